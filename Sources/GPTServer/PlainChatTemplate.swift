// The template for models never fine-tuned on dialogue: plain lines a base model has seen
// in ordinary text,
//   <system text>\n            (if any)
//   User: <text>\nAssistant: <text>\n  ...
//   Assistant:
// and the reply ends where the model starts the next "\nUser:" line.
public struct PlainChatTemplate: ChatTemplate {
    public let name = "plain"
    public let stopTexts = ["\nUser:"]

    public init() {}

    public func render(_ messages: [ChatMessage]) -> String {
        var text = ""
        for message in messages {
            switch message.role {
            case .system: text += message.content + "\n"
            case .user: text += "User: " + message.content + "\n"
            case .assistant: text += "Assistant: " + message.content + "\n"
            }
        }
        return text + "Assistant:"
    }
}
