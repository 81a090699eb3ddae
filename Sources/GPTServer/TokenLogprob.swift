// The log-probability of one generated token and of the most likely alternatives at its
// position, from the model's raw logits (before temperature, top-k/top-p and penalties,
// as vLLM and llama.cpp report them): log softmax(logits)[token].
import Foundation

public struct TokenLogprob: Sendable {
    public struct Alternative: Sendable {
        public let token: Int32
        public let bytes: [UInt8]
        public let logprob: Float
    }

    public let token: Int32
    public let bytes: [UInt8]
    public let logprob: Float
    /// The `count` most likely tokens at this position, most likely first.
    public let top: [Alternative]

    /// logits: [V]; `decode` gives a token's bytes.
    init(token: Int32, logits: [Float], top count: Int, decode: (Int32) -> [UInt8]) {
        let maximum = logits.max() ?? 0
        var total = 0.0
        for l in logits { total += exp(Double(l - maximum)) }
        let logZ = Float(Double(maximum) + log(total))
        self.token = token
        bytes = decode(token)
        logprob = logits[Int(token)] - logZ
        // A partial selection would be O(V log k); sorting V indices once per token is fast enough beside a forward pass.
        let best = count == 0 ? [] : logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.prefix(count)
        top = best.map { Alternative(token: Int32($0), bytes: decode(Int32($0)), logprob: logits[$0] - logZ) }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
