import XCTest
import GPTCore
import GPTKernels
import GPTTestSupport

final class InferenceSessionTests: XCTestCase {
    /// Logits of the last position from a full forward pass over `tokens` ([B, T]).
    func fullLogits(_ model: GPT, _ tokens: [Int32], batch: Int) throws -> [Float] {
        let t = tokens.count / batch, v = model.config.vocabSize
        try model.forward(tokens: tokens, targets: nil, batch: batch, seq: t)
        let all = Array(model.logits)
        var last: [Float] = []
        for b in 0..<batch {
            let start = (b * t + t - 1) * v
            last += all[start..<(start + v)]
        }
        return last
    }

    /// Prefill then one token at a time: every step's logits equal a recomputation of the whole prefix.
    func testCachedDecodingMatchesFullRecomputationAtEveryStep() throws {
        for (config, batch) in [(GPTConfig(vocabSize: 50, contextLength: 40, embeddingSize: 48, layerCount: 3, headCount: 4), 1),
                                (GPTConfig(vocabSize: 300, contextLength: 24, embeddingSize: 64, layerCount: 2, headCount: 2,
                                           positions: .sinusoidal), 3),
                                // Heads of 64 take the four-queries-at-a-time path during the prefill.
                                (GPTConfig(vocabSize: 50, contextLength: 20, embeddingSize: 128, layerCount: 2, headCount: 2), 2)] {
            let model = try GPT(config: config, seed: 4, pool: ThreadPool(threads: 2))
            let session = try InferenceSession(model: model, batch: batch)
            var rng = SplitMix64(seed: 9)
            var sequences = (0..<batch).map { _ in (0..<5).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) } }
            var cached = Array(try session.append(sequences.flatMap { $0 }, count: 5))
            while true {
                let expected = try fullLogits(model, sequences.flatMap { $0 }, batch: batch)
                let scale = max(1, maxAbs(expected))
                let worst = maxAbsDifference(cached, expected)  // +infinity on any NaN or infinity
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "length \(session.length)")
                guard session.length < config.contextLength else { break }
                let next = (0..<batch).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
                for b in 0..<batch { sequences[b].append(next[b]) }
                cached = Array(try session.append(next, count: 1))
            }
            XCTAssertThrowsError(try session.append([Int32](repeating: 0, count: batch), count: 1)) {
                XCTAssertEqual($0 as? GPTError, .sequenceTooLong(length: config.contextLength + 1, contextLength: config.contextLength))
            }
        }
    }
}
