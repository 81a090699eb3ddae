// Conversations for chat fine-tuning, in OpenAI's fine-tuning format: JSON Lines, one
// `{"messages": [{"role": "system"|"user"|"assistant", "content": "...", "weight": 0|1}]}`
// per line (`weight` optional, assistant messages only: 0 makes a reply context, not a
// target). Every refusal names the file, the line and what is wrong, so bad data stops a
// run before it starts. Blank lines are skipped.
//
// The hold-out is by content, not position: a conversation is a test one when the SHA-256
// of its messages, read as a number, is divisible by 10, so about every tenth conversation
// is held out, the split never changes when lines are reordered or added, and two equal
// conversations are never split between train and test.
import Foundation
import GPTIO
import GPTTokenizer

/// One conversation and the line it came from.
public struct Conversation: Equatable, Sendable {
    public var messages: [ChatMessage]
    /// 1-based line in its file.
    public var line: Int

    public init(messages: [ChatMessage], line: Int) { self.messages = messages; self.line = line }

    /// Whether the hash hold-out puts this conversation in the test set.
    public var isHeldOut: Bool {
        var text = ""
        for message in messages { text += message.role.rawValue + "\u{1F}" + message.content + "\u{1E}" }
        let digest = SHA256.hex(of: Array(text.utf8))
        return UInt64(digest.prefix(15), radix: 16)! % 10 == 0  // 15 hex digits: 60 bits, always valid hex
    }
}

public enum ChatDataError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case invalid(path: String, line: Int, reason: String)
    case noConversations(path: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .invalid(path, line, reason): return "\(path):\(line): \(reason)"
        case let .noConversations(path): return "\(path) holds no conversations"
        }
    }
}

public enum ChatConversations {
    /// Reads a JSON Lines file of conversations.
    public static func read(_ url: URL) throws -> [Conversation] {
        let data: Data
        do { data = try InputFile.read(url.path) } catch let error as FileAccessError {
            throw ChatDataError.unreadable(path: url.path, reason: error.reason)
        } catch {
            throw ChatDataError.unreadable(path: url.path, reason: FileAccessError.words(error))
        }
        let conversations = try parse(data, path: url.path)
        guard !conversations.isEmpty else { throw ChatDataError.noConversations(path: url.path) }
        return conversations
    }

    /// Parses JSON Lines; `path` names the source in errors.
    public static func parse(_ data: Data, path: String) throws -> [Conversation] {
        var conversations: [Conversation] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            conversations.append(try parseLine(Data(line), line: lineNumber, path: path))
        }
        return conversations
    }

    static func parseLine(_ data: Data, line: Int, path: String) throws -> Conversation {
        func fail(_ reason: String) -> ChatDataError { .invalid(path: path, line: line, reason: reason) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let record = object as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let value = record["messages"] else { throw fail("no \"messages\" field") }
        guard let list = value as? [Any] else { throw fail("\"messages\" is not a list") }
        guard !list.isEmpty else { throw fail("the conversation is empty (no messages)") }
        var messages: [ChatMessage] = []
        for (index, item) in list.enumerated() {
            let at = "message \(index + 1)"
            guard let message = item as? [String: Any] else { throw fail("\(at) is not a JSON object") }
            guard let roleName = message["role"] as? String else { throw fail("\(at) has no \"role\" string") }
            guard let role = ChatMessage.Role(rawValue: roleName) else {
                throw fail("\(at) has the unknown role \"\(roleName)\" (system, user or assistant)")
            }
            guard let contentValue = message["content"] else { throw fail("\(at) has no \"content\"") }
            guard let content = contentValue as? String else { throw fail("\(at): \"content\" must be a string") }
            var trained = true
            if let weight = message["weight"] {
                guard let number = weight as? NSNumber,
                      number.doubleValue == 0 || number.doubleValue == 1 else {
                    throw fail("\(at): \"weight\" must be 0 or 1")
                }
                guard role == .assistant else { throw fail("\(at): \"weight\" applies to assistant messages only") }
                trained = number.doubleValue == 1
            }
            messages.append(ChatMessage(role: role, content: content, trained: trained))
        }
        guard messages.contains(where: { $0.role == .assistant }) else { throw fail("the conversation has no assistant turn") }
        guard messages.contains(where: { $0.role == .assistant && $0.trained }) else {
            throw fail("every assistant turn has weight 0: nothing to learn")
        }
        return Conversation(messages: messages, line: line)
    }

    /// The conversations the hash hold-out keeps for training and those it holds out.
    public static func split(_ conversations: [Conversation]) -> (train: [Conversation], test: [Conversation]) {
        (conversations.filter { !$0.isHeldOut }, conversations.filter(\.isHeldOut))
    }
}
