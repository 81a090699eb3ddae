// One request's answer in OpenAI's shapes, built from its jobs' engine events: a whole
// body (`collect`) or Server-Sent Events (`stream`). Choice i*n + s is sample s of prompt i.
import Foundation
import Hummingbird

struct Answer: Sendable {
    let id: String
    let created: Int
    let model: String
    let shape: OpenAIServer.Shape
    let n: Int
    let promptTokens: Int

    var isChat: Bool { if case .chat = shape { return true } else { return false } }

    func usage(_ completionTokens: Int) -> [String: Any] {
        ["prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens]
    }

    /// Waits for every job and returns the whole body.
    func collect(_ jobs: [EngineJob]) async throws -> [String: Any] {
        var texts = [String](repeating: "", count: jobs.count * n)
        var reasons = [String](repeating: "length", count: jobs.count * n)
        var completionTokens = 0
        if case let .completion(echo) = shape, !echo.isEmpty {
            for i in jobs.indices { for s in 0..<n { texts[i * n + s] = echo[i] } }
        }
        defer { for job in jobs { job.cancel() } }
        for (i, job) in jobs.enumerated() {
            for await event in job.events {
                switch event {
                case .started: break
                case let .text(s, text): texts[i * n + s] += text
                case let .finished(s, reason, count): reasons[i * n + s] = reason; completionTokens += count
                case let .failed(error): throw error
                }
            }
        }
        let choices: [[String: Any]] = texts.indices.map { c in
            isChat
                ? ["index": c, "message": ["role": "assistant", "content": texts[c]], "logprobs": NSNull(), "finish_reason": reasons[c]]
                : ["index": c, "text": texts[c], "logprobs": NSNull(), "finish_reason": reasons[c]]
        }
        return ["id": id, "object": shape.object, "created": created, "model": model, "system_fingerprint": NSNull(),
                "choices": choices, "usage": usage(completionTokens)]
    }

    func chunk(_ choice: [String: Any], includeUsage: Bool) -> [String: Any] {
        var body: [String: Any] = ["id": id, "object": isChat ? "chat.completion.chunk" : "text_completion", "created": created,
                                   "model": model, "system_fingerprint": NSNull(), "choices": [choice]]
        if includeUsage { body["usage"] = NSNull() }
        return body
    }

    /// A choice of a chunk: text (or a chat delta) and, on the last one, why it ended.
    func choice(_ index: Int, text: String?, role: Bool = false, finish: String? = nil) -> [String: Any] {
        if isChat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant" }
            if let text { delta["content"] = text }
            return ["index": index, "delta": delta, "logprobs": NSNull(), "finish_reason": finish as Any? ?? NSNull()]
        }
        return ["index": index, "text": text ?? "", "logprobs": NSNull(), "finish_reason": finish as Any? ?? NSNull()]
    }

    /// Streams every job's events as chunks, then the usage chunk (if asked) and `[DONE]`.
    /// A write that fails (the client went away) cancels the jobs, which frees the engine.
    func stream(_ jobs: [EngineJob], includeUsage: Bool, into writer: inout any ResponseBodyWriter) async throws {
        defer { for job in jobs { job.cancel() } }
        var completionTokens = 0
        for (i, job) in jobs.enumerated() {
            for await event in job.events {
                switch event {
                case .started:
                    for s in 0..<n {
                        if isChat {
                            try await writer.write(JSONBody.event(chunk(choice(i * n + s, text: "", role: true), includeUsage: includeUsage)))
                        } else if case let .completion(echo) = shape, !echo.isEmpty {
                            try await writer.write(JSONBody.event(chunk(choice(i * n + s, text: echo[i]), includeUsage: includeUsage)))
                        }
                    }
                case let .text(s, text):
                    try await writer.write(JSONBody.event(chunk(choice(i * n + s, text: text), includeUsage: includeUsage)))
                case let .finished(s, reason, count):
                    completionTokens += count
                    let last = isChat ? choice(i * n + s, text: nil, finish: reason) : choice(i * n + s, text: "", finish: reason)
                    try await writer.write(JSONBody.event(chunk(last, includeUsage: includeUsage)))
                case let .failed(error):
                    // Headers are gone already: the error travels as an event, as OpenAI's streams do.
                    try await writer.write(JSONBody.event(error.body))
                    try await writer.write(JSONBody.done)
                    try await writer.finish(nil)
                    return
                }
            }
        }
        if includeUsage {
            try await writer.write(JSONBody.event(["id": id, "object": isChat ? "chat.completion.chunk" : "text_completion",
                                                   "created": created, "model": model, "system_fingerprint": NSNull(),
                                                   "choices": [Any](), "usage": usage(completionTokens)]))
        }
        try await writer.write(JSONBody.done)
        try await writer.finish(nil)
    }
}
