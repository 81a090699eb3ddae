// The log-probability of each prompt token given the tokens before it, for /v1/completions
// with `echo` and `logprobs` (OpenAI's and vLLM's shape: the first token has none). One
// full-sequence forward pass of the model (as `gpt eval` runs it) gives the hidden states;
// the LM head then runs over a few positions at a time, so the [T, V] logits are never
// held whole. Runs on the engine's thread, which owns the model.
import Foundation
import GPTCore
import GPTKernels

extension LoadedModel {
    /// Positions whose logits are computed together: [rows, V] floats of scratch (12.9 MB for GPT-2).
    public static let scoringRows = 64

    /// For prompt tokens 1..<T, the logprob of each under the model given those before it, with
    /// the `top` most likely alternatives at its position. prompt: [T], T ≤ the context; `rows`:
    /// positions per LM-head pass.
    public func promptLogprobs(_ prompt: [Int32], top: Int, rows: Int = scoringRows) throws -> [TokenLogprob] {
        let count = prompt.count
        guard count > 1 else { return [] }
        let config = model.config, c = config.embeddingSize, v = config.vocabSize
        try model.forward(tokens: prompt, targets: nil, batch: 1, seq: count, languageModelHead: false)
        let hidden = model.hiddenStates  // [T, C], after the final LayerNorm
        let rows = max(1, rows)
        var logits = [Float](repeating: 0, count: rows * v)
        let decode: (Int32) -> [UInt8] = { (try? self.tokenizer.decodeBytes([Int($0)])) ?? [] }
        var out: [TokenLogprob] = []
        out.reserveCapacity(count - 1)
        // Position t predicts token t + 1: logits of positions 0..<T-1 only.
        var start = 0
        while start < count - 1 {
            let m = min(rows, count - 1 - start)
            logits.withUnsafeMutableBufferPointer { l in
                // logits[m, V] = hidden[start..<start+m, C] · wte[V, C]ᵀ (the tied LM head)
                GEMM.multiply(l.baseAddress!, ldc: v, hidden.baseAddress! + start * c, lda: c, .normal,
                              model.parameters + model.layout.wte, ldb: c, .transposed,
                              m: m, n: v, k: c, accumulate: false, pool: model.pool)
            }
            for r in 0..<m {
                let row = Array(logits[(r * v)..<((r + 1) * v)])
                out.append(TokenLogprob(token: prompt[start + r + 1], logits: row, top: top, decode: decode))
            }
            start += m
        }
        return out
    }
}
