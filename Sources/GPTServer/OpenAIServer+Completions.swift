// /v1/completions and /v1/chat/completions: parse the prompt or the messages, queue one
// engine job per prompt, and answer with one body or a stream of Server-Sent Events.
import Foundation
import Hummingbird
import GPTTokenizer

extension OpenAIServer {
    /// Which of OpenAI's two body families an answer takes.
    enum Shape: Sendable {
        case completion(echo: [String])  // the prompt texts, when echo is on
        case chat

        var object: String {
            if case .chat = self { return "chat.completion" }
            return "text_completion"
        }
        var idPrefix: String {
            if case .chat = self { return "chatcmpl-" }
            return "cmpl-"
        }
    }

    func completions(_ fields: RequestFields, inbound: RequestBody) async throws -> Response {
        try checkModel(fields)
        let model = try loaded()
        let echo = try fields.bool("echo") ?? false
        let parameters = try GenerationParameters(fields, maxBatch: configuration.maxBatch, chat: false, echo: echo)
        guard fields.has("prompt") else { throw APIError.invalid("prompt is required", param: "prompt") }
        let prompts = try promptList(fields.object["prompt"]!, model: model)
        // Each prompt is one queued job: more than the queue holds could never be accepted.
        guard prompts.count <= configuration.maxQueue else {
            throw APIError.invalid("prompt holds \(prompts.count) prompts; this server queues at most \(configuration.maxQueue) (--max-queue)",
                                   param: "prompt")
        }
        let texts = echo ? prompts.map { (try? model.tokenizer.decode($0.map(Int.init))) ?? "" } : []
        var p = parameters
        if p.maxTokens == nil { p.maxTokens = 16 }  // OpenAI's default for completions
        // echo with logprobs: the prompt tokens' logprobs come first (the engine scores the prompt).
        return try await run(prompts: prompts, parameters: p, extraStops: [], promptLogprobs: echo ? p.logprobs : nil,
                             shape: .completion(echo: texts), model: model, inbound: inbound)
    }

    func chatCompletions(_ fields: RequestFields, inbound: RequestBody) async throws -> Response {
        try checkModel(fields)
        let model = try loaded()
        let parameters = try GenerationParameters(fields, maxBatch: configuration.maxBatch, chat: true)
        let messages = try chatMessages(fields)
        let ids: [Int32]
        do {
            ids = try ChatEncoder(template: model.template, tokenizer: model.tokenizer)
                .encode(messages, generationPrompt: true).ids.map(Int32.init)
        } catch {
            throw APIError.invalid("messages cannot be encoded by this model's chat template: \(error)", param: "messages")
        }
        _ = try fitting(ids, model: model, param: "messages")
        return try await run(prompts: [ids], parameters: parameters, extraStops: model.template.stopTexts, shape: .chat, model: model,
                             inbound: inbound)
    }

    /// `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays.
    func promptList(_ value: Any, model: LoadedModel) throws -> [[Int32]] {
        let vocabulary = model.model.config.vocabSize
        if let text = value as? String { return [try encode(text, model: model, param: "prompt")] }
        guard let array = value as? [Any], !array.isEmpty else {
            throw APIError.invalid("prompt must be a string, an array of strings, or an array of token ids (non-empty)", param: "prompt")
        }
        if array.allSatisfy({ $0 is String }) {
            return try array.map { try encode($0 as! String, model: model, param: "prompt") }  // checked just above
        }
        if array.allSatisfy({ $0 is [Any] }) {
            return try array.map { item in
                let ids = try tokenIDs(item, param: "prompt", vocabulary: vocabulary)
                guard !ids.isEmpty else { throw APIError.invalid("a prompt of token ids must not be empty", param: "prompt") }
                return try fitting(ids, model: model)
            }
        }
        return [try fitting(try tokenIDs(array, param: "prompt", vocabulary: vocabulary), model: model)]
    }

    /// A prompt's ids; the empty text starts from end-of-text, as `gpt sample` does.
    func encode(_ text: String, model: LoadedModel, param: String) throws -> [Int32] {
        var ids: [Int32]
        do { ids = try model.tokenizer.encode(text).map(Int32.init) } catch {
            throw APIError.invalid("\(param) cannot be encoded by this model's tokenizer: \(error)", param: param)
        }
        if ids.isEmpty { ids = [Int32(model.tokenizer.endOfTextID ?? 0)] }
        return try fitting(ids, model: model, param: param)
    }

    /// Refuses a prompt that leaves no room for a new token in the context.
    func fitting(_ ids: [Int32], model: LoadedModel, param: String = "prompt") throws -> [Int32] {
        let context = model.model.config.contextLength
        guard ids.count < context else {
            throw APIError.invalid("the prompt has \(ids.count) tokens, but this model's context holds \(context): "
                                   + "at most \(context - 1) prompt tokens fit, leaving room for one new token",
                                   param: param, code: "context_length_exceeded")
        }
        return ids
    }

    /// `messages`: [{"role": "system"|"developer"|"user"|"assistant", "content": text or [{"type": "text", "text"}]}].
    func chatMessages(_ fields: RequestFields) throws -> [ChatMessage] {
        guard let list = fields.object["messages"] as? [Any], !list.isEmpty else {
            throw APIError.invalid("messages must be a non-empty array of {role, content} objects", param: "messages")
        }
        return try list.enumerated().map { i, item in
            guard let message = item as? [String: Any] else {
                throw APIError.invalid("messages[\(i)] must be an object", param: "messages[\(i)]")
            }
            guard let roleName = message["role"] as? String,
                  let role = roleName == "developer" ? .system : ChatMessage.Role(rawValue: roleName) else {
                throw APIError.invalid("messages[\(i)].role must be one of system, developer, user, assistant",
                                       param: "messages[\(i)].role")
            }
            let content: String
            if let text = message["content"] as? String { content = text } else if let parts = message["content"] as? [Any] {
                content = try parts.map { part -> String in
                    guard let part = part as? [String: Any], part["type"] as? String == "text", let text = part["text"] as? String else {
                        throw APIError.invalid("messages[\(i)].content parts must be {\"type\": \"text\", \"text\": ...}",
                                               param: "messages[\(i)].content")
                    }
                    return text
                }.joined()
            } else if message["content"] == nil || message["content"] is NSNull, role == .assistant {
                content = ""
            } else {
                throw APIError.invalid("messages[\(i)].content must be a string", param: "messages[\(i)].content")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    /// Queues one job per prompt (all or none) and answers with a body or a stream. `inbound`: the
    /// request's body, through which a non-streaming answer learns that its client went away.
    func run(prompts: [[Int32]], parameters: GenerationParameters, extraStops: [String], promptLogprobs: Int? = nil,
             shape: Shape, model: LoadedModel, inbound: RequestBody) async throws -> Response {
        var jobs: [EngineJob] = []
        do {
            for prompt in prompts {
                let job = EngineJob(prompt: prompt, parameters: parameters, extraStops: extraStops,
                                    promptLogprobs: promptLogprobs, timeout: configuration.requestTimeout)
                try engine.submit(job)
                jobs.append(job)
            }
        } catch {
            for job in jobs { job.cancel() }
            throw error
        }
        let answer = Answer(id: shape.idPrefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
                            created: Int(Date().timeIntervalSince1970), model: configuration.modelName, shape: shape,
                            n: parameters.n, promptTokens: prompts.map(\.count).reduce(0, +),
                            withLogprobs: parameters.logprobs != nil)
        let submitted = jobs
        if parameters.stream {
            return Response(status: .ok,
                            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                                try await answer.stream(submitted, includeUsage: parameters.includeUsage, into: &writer)
                            })
        }
        return try await answerWatchingClient(submitted, answer: answer, inbound: inbound)
    }

    /// Waits for a whole (non-streaming) answer while watching the connection: when the client closes
    /// it, the jobs are cancelled, so the engine frees their slots within a step instead of generating
    /// every token for nobody. (A stream learns the same from its first failed write.)
    ///
    /// Hummingbird 2 reads the connection's inbound side for us here (`consumeWithInboundCloseHandler`);
    /// after that the connection cannot carry another request, so the answer says `Connection: close`.
    func answerWatchingClient(_ jobs: [EngineJob], answer: Answer, inbound: RequestBody) async throws -> Response {
        let body = try await inbound.consumeWithInboundCloseHandler { _ in
            JSONBody.buffer(try await answer.collect(jobs))
        } onInboundClosed: {
            for job in jobs { job.cancel() }
        }
        return Response(status: .ok, headers: [.contentType: "application/json", .connection: "close"], body: .init(byteBuffer: body))
    }
}
