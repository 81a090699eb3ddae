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
    let withLogprobs: Bool

    var isChat: Bool { if case .chat = shape { return true } else { return false } }

    func usage(_ completionTokens: Int) -> [String: Any] {
        ["prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens]
    }

    /// The `logprobs` of a choice (or of one chunk of it): OpenAI's completions or chat shape.
    /// `offset`: characters of the choice's text before these tokens (completions' `text_offset`);
    /// `lead`: an echoed prompt's first token, which comes first with a null logprob.
    func logprobsObject(_ entries: [TokenLogprob], offset: Int, lead: [UInt8]? = nil) -> Any {
        guard withLogprobs else { return NSNull() }
        if isChat {
            let content = entries.map { e -> [String: Any] in
                ["token": e.text, "logprob": e.logprob, "bytes": e.bytes.map(Int.init),
                 "top_logprobs": e.top.map { ["token": String(decoding: $0.bytes, as: UTF8.self), "logprob": $0.logprob,
                                              "bytes": $0.bytes.map(Int.init)] as [String: Any] }]
            }
            return ["content": content, "refusal": NSNull()]
        }
        var tokens = entries.map(\.text)
        var logprobs: [Any] = entries.map(\.logprob)
        var tops: [Any] = entries.map { e in
            Dictionary(e.top.map { (String(decoding: $0.bytes, as: UTF8.self), $0.logprob) }, uniquingKeysWith: { a, _ in a })
        }
        if let lead {
            tokens.insert(String(decoding: lead, as: UTF8.self), at: 0)
            logprobs.insert(NSNull(), at: 0)
            tops.insert(NSNull(), at: 0)
        }
        var offsets: [Int] = []
        var at = offset
        for token in tokens { offsets.append(at); at += token.count }
        return ["tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets, "top_logprobs": tops]
    }

    /// Waits for every job and returns the whole body.
    func collect(_ jobs: [EngineJob]) async throws -> [String: Any] {
        var texts = [String](repeating: "", count: jobs.count * n)
        var reasons = [String](repeating: "length", count: jobs.count * n)
        var completionTokens = 0
        var logs = [[TokenLogprob]](repeating: [], count: jobs.count * n)
        var starts = [Int](repeating: 0, count: jobs.count * n)  // characters before the generated text (the echo)
        var leads = [[UInt8]?](repeating: nil, count: jobs.count * n)  // an echoed prompt's first token
        if case let .completion(echo) = shape, !echo.isEmpty {
            for i in jobs.indices { for s in 0..<n { texts[i * n + s] = echo[i]; starts[i * n + s] = echo[i].count } }
        }
        defer { for job in jobs { job.cancel() } }
        for (i, job) in jobs.enumerated() {
            for await event in job.events {
                switch event {
                case let .prompt(first, entries):
                    // The echoed prompt's tokens come before the generated ones, from the start of the text.
                    for s in 0..<n { leads[i * n + s] = first; logs[i * n + s] = entries + logs[i * n + s]; starts[i * n + s] = 0 }
                case .started, .keepAlive: break
                case let .text(s, text, entries): texts[i * n + s] += text; logs[i * n + s] += entries
                case let .finished(s, reason, count): reasons[i * n + s] = reason; completionTokens += count
                case let .failed(error): throw error
                }
            }
        }
        let choices: [[String: Any]] = texts.indices.map { c in
            isChat
                ? ["index": c, "message": ["role": "assistant", "content": texts[c]], "logprobs": logprobsObject(logs[c], offset: 0),
                   "finish_reason": reasons[c]]
                : ["index": c, "text": texts[c], "logprobs": logprobsObject(logs[c], offset: starts[c], lead: leads[c]),
                   "finish_reason": reasons[c]]
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

    /// The SSE event of a text chunk without logprobs: the object `chunk(choice(index, text: text))`
    /// makes, written straight into a buffer (a stream sends one per token; see JSONBody.appendString).
    func textEvent(_ index: Int, _ text: String, includeUsage: Bool) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(192 + id.utf8.count + model.utf8.count + text.utf8.count)
        out.writeStaticString("data: {\"id\":")
        JSONBody.appendString(id, to: &out)
        out.writeString(isChat ? ",\"object\":\"chat.completion.chunk\",\"created\":" : ",\"object\":\"text_completion\",\"created\":")
        out.writeString(String(created))
        out.writeStaticString(",\"model\":")
        JSONBody.appendString(model, to: &out)
        out.writeStaticString(",\"system_fingerprint\":null,\"choices\":[{\"index\":")
        out.writeString(String(index))
        out.writeString(isChat ? ",\"delta\":{\"content\":" : ",\"text\":")
        JSONBody.appendString(text, to: &out)
        if isChat { out.writeStaticString("}") }
        out.writeStaticString(",\"logprobs\":null,\"finish_reason\":null}]")
        if includeUsage { out.writeStaticString(",\"usage\":null") }
        out.writeStaticString("}\n\n")
        return out
    }

    /// A choice of a chunk: text (or a chat delta) and, on the last one, why it ended.
    func choice(_ index: Int, text: String?, role: Bool = false, finish: String? = nil, logprobs: Any = NSNull()) -> [String: Any] {
        if isChat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant" }
            if let text { delta["content"] = text }
            return ["index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish as Any? ?? NSNull()]
        }
        return ["index": index, "text": text ?? "", "logprobs": logprobs, "finish_reason": finish as Any? ?? NSNull()]
    }

    /// Streams every job's events as chunks, then the usage chunk (if asked) and `[DONE]`.
    /// A write that fails (the client went away) cancels the jobs, which frees the engine.
    func stream(_ jobs: [EngineJob], includeUsage: Bool, into writer: inout any ResponseBodyWriter) async throws {
        defer { for job in jobs { job.cancel() } }
        var completionTokens = 0
        var offsets = [Int](repeating: 0, count: jobs.count * n)  // characters streamed per choice
        for (i, job) in jobs.enumerated() {
            var promptLogprobs: Any = NSNull()  // the echo's, sent with it
            for await event in job.events {
                switch event {
                case .keepAlive:
                    try await writer.write(JSONBody.ping)
                case let .prompt(first, entries): promptLogprobs = logprobsObject(entries, offset: 0, lead: first)
                case .started:
                    for s in 0..<n {
                        if isChat {
                            try await writer.write(JSONBody.event(chunk(choice(i * n + s, text: "", role: true), includeUsage: includeUsage)))
                        } else if case let .completion(echo) = shape, !echo.isEmpty {
                            try await writer.write(JSONBody.event(chunk(choice(i * n + s, text: echo[i], logprobs: promptLogprobs),
                                                                        includeUsage: includeUsage)))
                            offsets[i * n + s] = echo[i].count
                        }
                    }
                case let .text(s, text, entries):
                    let c = i * n + s
                    if withLogprobs {
                        let piece = choice(c, text: text, logprobs: logprobsObject(entries, offset: offsets[c]))
                        try await writer.write(JSONBody.event(chunk(piece, includeUsage: includeUsage)))
                    } else {
                        try await writer.write(textEvent(c, text, includeUsage: includeUsage))
                    }
                    offsets[c] += text.count
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
