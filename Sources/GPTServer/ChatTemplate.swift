// How a conversation becomes the text a language model continues. A checkpoint without
// a chat fine-tune uses `PlainChatTemplate`; a ChatML-style template with special tokens
// (issue 14) joins as another conformance.
public protocol ChatTemplate: Sendable {
    /// The template's name, as a checkpoint's config would give it.
    var name: String { get }
    /// The prompt for `messages`, ending where the assistant's reply begins.
    func render(_ messages: [ChatMessage]) -> String
    /// Texts that end the assistant's turn (a model writing the next "User:" line, say).
    var stopTexts: [String] { get }
}

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable { case system, user, assistant }
    public var role: Role
    public var content: String

    public init(role: Role, content: String) { self.role = role; self.content = content }
}
