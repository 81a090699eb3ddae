// The sampling and length parameters shared by /v1/completions and /v1/chat/completions,
// read and range-checked from a request body. Ranges are OpenAI's where it documents them.
import Foundation
import GPTGeneration

public struct GenerationParameters: Sendable {
    /// nil: until the context or an end-of-text token (chat's default); completions default to 16.
    public var maxTokens: Int?
    public var sampling = SamplingOptions()
    public var stop: [String] = []
    public var seed: UInt64?
    public var n = 1
    public var stream = false
    public var includeUsage = false
    /// How many alternatives to report per token with its log-probability; nil: no logprobs.
    public var logprobs: Int?

    /// The most tokens one request may ask for; beyond the context the window slides, as `gpt sample` does.
    public static let maxTokensLimit = 100_000

    public init() {}

    /// `echo`: a completion that echoes its prompt may ask for 0 new tokens (to score the prompt alone).
    init(_ fields: RequestFields, maxBatch: Int, chat: Bool, echo: Bool = false) throws {
        // max_completion_tokens is the newer name; the older one is honoured when it is the only one.
        let least = echo ? 0 : 1
        maxTokens = try fields.int("max_completion_tokens", in: least...Self.maxTokensLimit)
            ?? fields.int("max_tokens", in: least...Self.maxTokensLimit)
        sampling.temperature = Float(try fields.number("temperature", in: 0...2) ?? 1)
        if let p = try fields.number("top_p", in: 0...1) {
            guard p > 0 else { throw APIError.invalid("top_p must be in (0, 1], got 0", param: "top_p") }
            sampling.topP = Float(p)
        }
        // top_k ≤ 0 means "no limit" in llama.cpp and vLLM; the same here.
        if let k = try fields.int("top_k", in: -1...Int(Int32.max)), k > 0 { sampling.topK = k }
        if let r = try fields.number("repetition_penalty", in: 0...10) {
            guard r > 0 else { throw APIError.invalid("repetition_penalty must be > 0, got 0", param: "repetition_penalty") }
            sampling.repetitionPenalty = Float(r)
        }
        sampling.presencePenalty = Float(try fields.number("presence_penalty", in: -2...2) ?? 0)
        sampling.frequencyPenalty = Float(try fields.number("frequency_penalty", in: -2...2) ?? 0)
        if let seed = try fields.int("seed", in: Int.min...Int.max) { self.seed = UInt64(bitPattern: Int64(seed)) }
        n = try fields.int("n", in: 1...maxBatch) ?? 1
        stream = try fields.bool("stream") ?? false
        if fields.has("stream_options") {
            guard let options = fields.object["stream_options"] as? [String: Any] else {
                throw fields.wrongType("stream_options", "an object")
            }
            let inner = RequestFields(object: options)
            do { includeUsage = try inner.bool("include_usage") ?? false } catch {
                throw APIError.invalid("stream_options.include_usage must be a boolean", param: "stream_options.include_usage")
            }
        }
        stop = try Self.stops(fields)
        // Chat: `logprobs` is a boolean and `top_logprobs` (0...20) the alternatives; completions: `logprobs` is the count.
        if chat {
            let top = try fields.int("top_logprobs", in: 0...20)
            if try fields.bool("logprobs") ?? false { logprobs = top ?? 0 } else if top != nil {
                throw APIError.invalid("top_logprobs needs logprobs: true", param: "top_logprobs")
            }
        } else {
            logprobs = try fields.int("logprobs", in: 0...20)
        }
    }

    /// `stop`: a string or an array of up to 4 non-empty strings.
    static func stops(_ fields: RequestFields) throws -> [String] {
        guard fields.has("stop") else { return [] }
        let value = fields.object["stop"]!
        let list: [String]
        if let one = value as? String { list = [one] } else if let many = value as? [Any], many.allSatisfy({ $0 is String }) {
            list = many as! [String]  // checked on the line above
        } else { throw fields.wrongType("stop", "a string or an array of strings") }
        guard list.count <= 4 else { throw APIError.invalid("stop may hold at most 4 strings, got \(list.count)", param: "stop") }
        guard !list.contains("") else { throw APIError.invalid("stop strings must not be empty", param: "stop") }
        return list
    }
}
