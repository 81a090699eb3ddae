// How a conversation becomes the tokens a language model continues, and which of those
// tokens a chat fine-tune learns to write. A template lays a conversation out as pieces
// (text, or a special token) marked as context or as part of an assistant reply;
// `ChatEncoder` turns the pieces into ids and a per-token target mask. Two templates:
// `PlainChatTemplate` ("User: …\nAssistant:", for models never fine-tuned on dialogue and
// character-level models) and `ChatMLTemplate` (`<|im_start|>role\n…<|im_end|>\n`).
// Lives here, beside the tokenizer, so the trainer, `gpt chat` and the server share it.

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable { case system, user, assistant }
    public var role: Role
    public var content: String
    /// OpenAI's per-message `weight`: false makes an assistant message context, not a target.
    public var trained: Bool

    public init(role: Role, content: String, trained: Bool = true) {
        self.role = role; self.content = content; self.trained = trained
    }
}

/// A stretch of a rendered conversation.
public struct ChatPiece: Sendable, Equatable {
    public var text: String
    /// The text is one special token (`<|im_start|>`), never ordinary text.
    public var isSpecial: Bool
    /// The tokens are part of an assistant reply the model learns to write.
    public var isTarget: Bool

    public init(_ text: String, special: Bool = false, target: Bool = false) {
        self.text = text; isSpecial = special; isTarget = target
    }
}

public protocol ChatTemplate: Sendable {
    /// The template's name, as a checkpoint's config records it.
    var name: String { get }
    /// The conversation as pieces; with `generationPrompt`, ending where the assistant's next reply begins.
    func pieces(_ messages: [ChatMessage], generationPrompt: Bool) -> [ChatPiece]
    /// Texts that end the assistant's turn (a model writing the next "User:" line, say).
    var stopTexts: [String] { get }
    /// Special tokens the template needs in the tokenizer.
    var specialTokens: [String] { get }
    /// The same template as a Hugging Face `chat_template` (Jinja), for tokenizer_config.json.
    var jinja: String { get }
}

extension ChatTemplate {
    /// The prompt for `messages` as text, ending where the assistant's reply begins.
    public func render(_ messages: [ChatMessage]) -> String {
        pieces(messages, generationPrompt: true).map(\.text).joined()
    }
}

/// The templates a checkpoint can name.
public enum ChatTemplates {
    /// The config.json key that records a checkpoint's template (absent: `plain`).
    public static let configKey = "chat_template_name"
    public static let all: [any ChatTemplate] = [PlainChatTemplate(), ChatMLTemplate()]

    public static func named(_ name: String) -> (any ChatTemplate)? { all.first { $0.name == name } }
}
