// Autoregressive sampling by full recomputation: each new token re-runs the model
// on the last n_positions tokens and samples from the final position's logits with
// a temperature and an optional top-k cut. Enough for the small models of training
// previews; long generations want a KV cache.
import Foundation
import GPTCore
import GPTKernels

public enum TextSampler {
    /// `prompt` followed by `count` sampled token ids.
    public static func continuation(of prompt: [Int32], count: Int, model: GPT, temperature: Float = 0.8,
                                    topK: Int? = nil, seed: UInt64) throws -> [Int32] {
        var rng = SplitMix64(seed: seed)
        var ids = prompt
        let v = model.config.vocabSize
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        for _ in 0..<count {
            let window = Array(ids.suffix(model.config.contextLength))
            try model.forward(tokens: window, targets: nil, batch: 1, seq: window.count)
            let logits = Array(model.logits[((window.count - 1) * v)..<(window.count * v)])
            ids.append(Int32(sample(logits, temperature: temperature, topK: topK, rng: &rng)))
        }
        return ids
    }

    /// An index drawn from softmax(logits / temperature) over the top k (greedy at temperature 0).
    public static func sample(_ logits: [Float], temperature: Float, topK: Int?, rng: inout SplitMix64) -> Int {
        guard temperature > 0 else { return logits.indices.max { logits[$0] < logits[$1] }! }
        var candidates = Array(logits.indices)
        if let k = topK, k < logits.count { candidates = Array(candidates.sorted { logits[$0] > logits[$1] }.prefix(k)) }
        let m = candidates.map { logits[$0] }.max()!
        let weights = candidates.map { exp(Double((logits[$0] - m) / temperature)) }
        var r = rng.nextUnitInterval() * weights.reduce(0, +)
        for (i, w) in zip(candidates, weights) {
            r -= w
            if r <= 0 { return i }
        }
        return candidates.last!
    }
}
