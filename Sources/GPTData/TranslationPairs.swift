// Parallel text for sequence-to-sequence training: JSON Lines with one object per line,
// `{"source": "...", "target": "..."}` (other keys, such as the Bible files' "ref", are
// ignored; blank lines are skipped). Every malformed line is an error naming file:line, so bad
// data stops a run before training. Tokenised pairs keep their line for later messages.
import Foundation
import GPTIO
import GPTTokenizer

/// One source sentence and its translation, as written in the file.
public struct TranslationPair: Equatable, Sendable {
    public var source: String
    public var target: String
    /// 1-based line in the file.
    public var line: Int

    public init(source: String, target: String, line: Int) {
        self.source = source; self.target = target; self.line = line
    }
}

/// A pair as token ids, before any special tokens the model adds.
public struct TokenizedPair: Equatable, Sendable {
    public var source: [Int32]
    public var target: [Int32]
    public var line: Int

    public init(source: [Int32], target: [Int32], line: Int) {
        self.source = source; self.target = target; self.line = line
    }
}

public enum TranslationPairs {
    /// Reads and checks a pairs file.
    public static func read(_ url: URL) throws -> [TranslationPair] {
        let data: Data
        do {
            data = try InputFile.read(url.path)
        } catch let error as FileAccessError {
            throw PairsError.unreadableFile(path: url.path, reason: error.reason)
        } catch {
            throw PairsError.unreadableFile(path: url.path, reason: FileAccessError.words(error))
        }
        return try parse(data, path: url.path)
    }

    /// Parses JSON Lines; `path` names the source in errors. Both fields must be strings with
    /// some non-whitespace text.
    public static func parse(_ data: Data, path: String) throws -> [TranslationPair] {
        var bytes = [UInt8](data)[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var pairs: [TranslationPair] = []
        for (index, lineBytes) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            guard lineBytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            guard String(validating: lineBytes, as: UTF8.self) != nil else { throw PairsError.notUTF8(path: path, line: line) }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(lineBytes), options: [.fragmentsAllowed])
            } catch {
                throw PairsError.invalidJSON(path: path, line: line)
            }
            guard let fields = object as? [String: Any] else { throw PairsError.notAnObject(path: path, line: line) }
            let source = try text(fields, "source", path: path, line: line)
            let target = try text(fields, "target", path: path, line: line)
            pairs.append(TranslationPair(source: source, target: target, line: line))
        }
        guard !pairs.isEmpty else { throw PairsError.noPairs(path: path) }
        return pairs
    }

    /// Encodes both sides with one (joint) tokenizer.
    public static func tokenize(_ pairs: [TranslationPair], with tokenizer: some Tokenizer) throws -> [TokenizedPair] {
        try pairs.map { pair in
            TokenizedPair(source: try tokenizer.encode(pair.source).map { Int32($0) },
                          target: try tokenizer.encode(pair.target).map { Int32($0) }, line: pair.line)
        }
    }

    private static func text(_ fields: [String: Any], _ key: String, path: String, line: Int) throws -> String {
        guard let value = fields[key] else { throw PairsError.missingField(path: path, line: line, field: key) }
        guard let string = value as? String else { throw PairsError.wrongType(path: path, line: line, field: key, found: kind(value)) }
        guard !string.allSatisfy(\.isWhitespace) else { throw PairsError.emptyField(path: path, line: line, field: key) }
        return string
    }

    private static func kind(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if value is [Any] { return "an array" }
        if value is [String: Any] { return "an object" }
        return "a number or boolean"
    }
}

/// What is wrong with a pairs file, naming the file and line.
public enum PairsError: Error, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case notUTF8(path: String, line: Int)
    case invalidJSON(path: String, line: Int)
    case notAnObject(path: String, line: Int)
    case missingField(path: String, line: Int, field: String)
    case wrongType(path: String, line: Int, field: String, found: String)
    case emptyField(path: String, line: Int, field: String)
    case noPairs(path: String)

    private static let shape = "(each line needs {\"source\": \"...\", \"target\": \"...\"})"

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason): return "cannot read \(path): \(reason)"
        case let .notUTF8(path, line): return "\(path):\(line): the bytes are not valid UTF-8, expected UTF-8 text"
        case let .invalidJSON(path, line): return "\(path):\(line): the line is not valid JSON \(Self.shape)"
        case let .notAnObject(path, line): return "\(path):\(line): the line is not a JSON object \(Self.shape)"
        case let .missingField(path, line, field): return "\(path):\(line): \"\(field)\" is missing \(Self.shape)"
        case let .wrongType(path, line, field, found): return "\(path):\(line): \"\(field)\" is \(found), expected a string"
        case let .emptyField(path, line, field): return "\(path):\(line): \"\(field)\" is empty, expected some non-whitespace text"
        case let .noPairs(path): return "\(path): the file holds no pairs, expected JSON Lines of {\"source\": ..., \"target\": ...}"
        }
    }
}
