// One assistant reply to a conversation: the template's prompt (ending in the assistant
// header), then tokens until a stop token (`<|im_end|>`, `<|endoftext|>`), a stop text
// ("\nUser:" for the plain template), the token limit, or the caller's `onText` says stop.
// Text is handed out as it becomes final: whole UTF-8 characters, and never a prefix of a
// stop text that may still complete. When the prompt leaves too little room for the reply,
// the oldest turns go first (a leading system message stays), so a long chat keeps going.
// Used by `gpt chat` and the sample replies of `gpt finetune chat`.
import GPTCore
import GPTTokenizer

public struct ChatReply: Sendable {
    public var text: String
    /// The generated ids, the stop token excluded.
    public var ids: [Int]
    /// Messages dropped from the start of the history to fit the context.
    public var droppedMessages: Int
}

public final class ChatReplier {
    public let model: GPT
    public let encoder: ChatEncoder

    public init(model: GPT, encoder: ChatEncoder) { self.model = model; self.encoder = encoder }

    /// The prompt ids for `messages`, oldest turns dropped until `reserve` tokens are left for the reply.
    public func prompt(_ messages: [ChatMessage], reserve: Int) throws -> (ids: [Int], dropped: Int) {
        let budget = max(1, model.config.contextLength - min(reserve, model.config.contextLength / 2))
        var messages = messages, dropped = 0
        var ids = try encoder.encode(messages, generationPrompt: true).ids
        while ids.count > budget {
            let first = messages.first?.role == .system ? 1 : 0
            guard messages.count > first else { break }
            messages.remove(at: messages.count > first + 1 ? first : 0)
            dropped += 1
            ids = try encoder.encode(messages, generationPrompt: true).ids
        }
        // Still too long (one huge message): keep the end, which holds the generation prompt.
        if ids.count > model.config.contextLength { ids = Array(ids.suffix(model.config.contextLength)) }
        return (ids, dropped)
    }

    public func reply(to messages: [ChatMessage], options: GenerationOptions,
                      onText: (String) -> Bool = { _ in true }) throws -> ChatReply {
        let (prompt, dropped) = try self.prompt(messages, reserve: options.maxNewTokens)
        var options = options
        options.stopTokens.formUnion(encoder.stopTokenIDs.map(Int32.init))
        var scanner = StopTextScanner(stops: encoder.stopTexts)
        var decoder = StreamingTextDecoder()
        var ids: [Int] = []
        var text = ""
        _ = try Generator(model: model).generate(prompt: prompt.map(Int32.init), options: options) { _, token in
            guard let bytes = try? encoder.tokenizer.decodeBytes([Int(token)]) else { return false }
            ids.append(Int(token))
            let (ready, stopped) = scanner.append(decoder.push(bytes))
            text += ready
            let more = ready.isEmpty || onText(ready)
            return more && !stopped
        }
        if !scanner.stopped {
            let (ready, _) = scanner.append(decoder.finish())
            let rest = ready + scanner.flush()
            text += rest
            if !rest.isEmpty { _ = onText(rest) }
        }
        return ChatReply(text: text, ids: ids, droppedMessages: dropped)
    }
}
