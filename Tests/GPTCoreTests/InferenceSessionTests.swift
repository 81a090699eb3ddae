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

    /// A sequence's logits are bit-identical whether its slot steps alone or beside other slots at
    /// other lengths (prefilling or decoding), and however its prompt is cut into steps. Heads of 64
    /// take the four-queries path for whole prompts and the one-query path for short chunks, and
    /// the MLP's K of 512 spans two GEMM blocks.
    func testASlotsLogitsDependNeitherOnTheOtherSlotsNorOnHowItsPromptWasCut() throws {
        let config = GPTConfig(vocabSize: 80, contextLength: 48, embeddingSize: 128, layerCount: 2, headCount: 2)
        let model = try GPT(config: config, seed: 5, pool: ThreadPool(threads: 2))
        let v = config.vocabSize
        var rng = SplitMix64(seed: 3)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(v)) } }
        let prompt = tokens(13), continuation = tokens(10)
        func bits(_ logits: UnsafeBufferPointer<Float>, entry: Int) -> [UInt32] { logits[(entry * v)..<((entry + 1) * v)].map(\.bitPattern) }

        // Alone: the whole prompt in one step, then a token per step.
        let alone = try InferenceSession(model: model, batch: 1)
        var expected = [bits(try alone.step([(0, prompt)]), entry: 0)]
        for t in continuation { expected.append(bits(try alone.step([(0, [t])]), entry: 0)) }

        // Beside others: slot 2 of 4, its prompt in chunks of 5, 1 and 7, other slots at other lengths.
        let session = try InferenceSession(model: model, batch: 4, rows: 40)
        _ = try session.step([(0, tokens(9)), (1, tokens(3))])
        var got: [[UInt32]] = []
        var rest = prompt[...]
        for size in [5, 1, 7] {
            let chunk = Array(rest.prefix(size))
            rest = rest.dropFirst(size)
            let logits = try session.step([(1, tokens(1)), (2, chunk), (0, tokens(2))])
            if rest.isEmpty { got.append(bits(logits, entry: 1)) }
        }
        for (i, t) in continuation.enumerated() {
            var entries: [(slot: Int, tokens: [Int32])] = [(2, [t])]
            if i % 2 == 0 { entries.insert((1, tokens(1)), at: 0) }
            if i % 3 == 0 { entries.append((3, tokens(i == 0 ? 6 : 1))) }
            let logits = try session.step(entries)
            got.append(bits(logits, entry: entries.firstIndex { $0.slot == 2 }!))
        }
        XCTAssertEqual(session.lengths, [15, 11, 23, 9])
        XCTAssertEqual(got.count, expected.count)
        for (step, (a, b)) in zip(got, expected).enumerated() {
            XCTAssertEqual(a.indices.count { a[$0] != b[$0] }, 0, "step \(step): logits differ from the slot run alone")
        }
        // A slot used twice in a step, an unknown slot, or more rows than the session holds are refused.
        XCTAssertThrowsError(try session.step([(0, [1]), (0, [2])]))
        XCTAssertThrowsError(try session.step([(4, [1])]))
        XCTAssertThrowsError(try session.step([(0, tokens(20)), (1, tokens(21))]))
    }
}
