// The template for models never fine-tuned on dialogue: plain lines a base model has seen
// in ordinary text,
//   <system text>\n            (if any)
//   User: <text>\nAssistant: <text>\n  ...
//   Assistant:
// and the reply ends where the model starts the next "\nUser:" line. It needs no special
// tokens, so it also serves character-level models. A fine-tune learns " <text>\n".
public struct PlainChatTemplate: ChatTemplate {
    public let name = "plain"
    public let stopTexts = ["\nUser:"]
    public let specialTokens: [String] = []

    public init() {}

    public func pieces(_ messages: [ChatMessage], generationPrompt: Bool) -> [ChatPiece] {
        var pieces: [ChatPiece] = []
        for message in messages {
            switch message.role {
            case .system: pieces.append(ChatPiece(message.content + "\n"))
            case .user: pieces.append(ChatPiece("User: " + message.content + "\n"))
            case .assistant:
                pieces.append(ChatPiece("Assistant:"))
                pieces.append(ChatPiece(" " + message.content + "\n", target: message.trained))
            }
        }
        if generationPrompt { pieces.append(ChatPiece("Assistant:")) }
        return pieces
    }

    public var jinja: String {
        "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}\n"
            + "{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
            + "{% else %}Assistant: {{ message['content'] }}\n{% endif %}{% endfor %}"
            + "{% if add_generation_prompt %}Assistant:{% endif %}"
    }
}
