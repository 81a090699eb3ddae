// ChatML, the layout OpenAI introduced and Qwen and others train with:
//   <|im_start|>system\n<text><|im_end|>\n
//   <|im_start|>user\n<text><|im_end|>\n
//   <|im_start|>assistant\n<text><|im_end|>\n
//   <|im_start|>assistant\n                       (the generation prompt)
// `<|im_start|>` and `<|im_end|>` are special tokens (`ChatTokens` adds them), so no plain
// text can produce them. A fine-tune learns each assistant text and its `<|im_end|>`, the
// token that ends a reply; the role header and the newline after `<|im_end|>` are context.
public struct ChatMLTemplate: ChatTemplate {
    public static let start = "<|im_start|>"
    public static let end = "<|im_end|>"

    public let name = "chatml"
    public let stopTexts = [ChatMLTemplate.end]
    public let specialTokens = [ChatMLTemplate.start, ChatMLTemplate.end]

    public init() {}

    public func pieces(_ messages: [ChatMessage], generationPrompt: Bool) -> [ChatPiece] {
        var pieces: [ChatPiece] = []
        for message in messages {
            let target = message.role == .assistant && message.trained
            pieces.append(ChatPiece(Self.start, special: true))
            pieces.append(ChatPiece(message.role.rawValue + "\n"))
            pieces.append(ChatPiece(message.content, target: target))
            pieces.append(ChatPiece(Self.end, special: true, target: target))
            pieces.append(ChatPiece("\n"))
        }
        if generationPrompt {
            pieces.append(ChatPiece(Self.start, special: true))
            pieces.append(ChatPiece("assistant\n"))
        }
        return pieces
    }

    public var jinja: String {
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    }
}
