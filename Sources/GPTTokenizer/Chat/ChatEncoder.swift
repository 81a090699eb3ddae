// A conversation as token ids through a template, with the mask a chat fine-tune trains
// on. Consecutive text pieces are encoded as one string, as Hugging Face's
// `apply_chat_template` tokenizes its rendered text between special tokens, so the ids
// are the same as transformers'; each token is then a target when any of its bytes
// belongs to a target piece. Special pieces become their ids directly; ordinary text never
// produces them (`encodeOrdinary` treats `<|im_end|>` in a message as plain characters).
import Foundation

/// The ids of a conversation and, per id, whether a fine-tune learns to predict it.
public struct ChatEncoding: Sendable, Equatable {
    public var ids: [Int]
    public var isTarget: [Bool]

    public init(ids: [Int], isTarget: [Bool]) { self.ids = ids; self.isTarget = isTarget }
}

public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    case missingSpecialToken(token: String, template: String, tokenizer: String)
    case unknownTemplate(name: String)

    public var description: String {
        switch self {
        case let .missingSpecialToken(token, template, tokenizer):
            return "the \(template) template needs the special token \(token), which the tokenizer \(tokenizer) lacks"
                + (template == "chatml" ? " (`gpt finetune chat` adds it to a BPE tokenizer; use --template plain for a character-level model)" : "")
        case let .unknownTemplate(name):
            return "unknown chat template '\(name)'; known: " + ChatTemplates.all.map(\.name).joined(separator: ", ")
        }
    }
}

public struct ChatEncoder: Sendable {
    public let template: any ChatTemplate
    public let tokenizer: any Tokenizer
    private let specialIDs: [String: Int]

    /// Refuses a tokenizer without the template's special tokens.
    public init(template: any ChatTemplate, tokenizer: any Tokenizer) throws {
        self.template = template; self.tokenizer = tokenizer
        let known = (tokenizer as? BytePairTokenizer)?.specialTokens ?? [:]
        var ids: [String: Int] = [:]
        for token in template.specialTokens {
            guard let id = known[token] else {
                throw ChatTemplateError.missingSpecialToken(token: token, template: template.name, tokenizer: tokenizer.name)
            }
            ids[token] = id
        }
        specialIDs = ids
    }

    /// Tokens that end a reply: the template's special stop tokens and the end-of-text token.
    public var stopTokenIDs: [Int] {
        template.stopTexts.compactMap { specialIDs[$0] } + (tokenizer.endOfTextID.map { [$0] } ?? [])
    }

    /// Text stops that are not special tokens (matched in the decoded text).
    public var stopTexts: [String] { template.stopTexts.filter { specialIDs[$0] == nil } }

    public func encode(_ messages: [ChatMessage], generationPrompt: Bool) throws -> ChatEncoding {
        var result = ChatEncoding(ids: [], isTarget: [])
        var text: [UInt8] = [], targetBytes: [Bool] = []
        func flush() throws {
            guard !text.isEmpty else { return }
            var ids: [Int] = []
            try text.withUnsafeBufferPointer { try tokenizer.encodeOrdinary(utf8: $0, into: &ids) }
            var offset = 0
            for id in ids {
                let length = try tokenizer.decodeBytes([id]).count
                result.ids.append(id)
                result.isTarget.append(targetBytes[offset..<min(targetBytes.count, offset + length)].contains(true))
                offset += length
            }
            text.removeAll(keepingCapacity: true); targetBytes.removeAll(keepingCapacity: true)
        }
        for piece in template.pieces(messages, generationPrompt: generationPrompt) {
            if piece.isSpecial {
                try flush()
                result.ids.append(specialIDs[piece.text]!)  // every special piece is in template.specialTokens
                result.isTarget.append(piece.isTarget)
            } else {
                text += Array(piece.text.utf8)
                targetBytes += [Bool](repeating: piece.isTarget, count: piece.text.utf8.count)
            }
        }
        try flush()
        return result
    }
}
