// A measurement, not a check: the time of one training step (forward, backward, AdamW) of a
// 6 + 6-layer, d_model 256 encoder–decoder Transformer on a batch of about 4k source and 4k
// target tokens, so the translation benchmark can be sized. It runs only when
// GPT_SEQ2SEQ_TIMING=1 (about 30 s on 2 cores) and prints median milliseconds and tokens/s; it
// fails only if the loss or a logit is not finite. Measured 2026-12-07 on this 2-core machine:
// batch 128 × 32: 1295 ms per step (forward 464 ms), 2824 target tokens/s; 64 × 64: 1433 ms;
// PyTorch 2.13 on the same step (Benchmarks/seq2seq_step_torch.py): 2994 and 3311 ms. Decoding:
// 0.81 ms per step for one row, 0.93 ms for 4 beams, 4–5 ms to encode 30 tokens.
//   GPT_SEQ2SEQ_TIMING=1 flock /tmp/swift-build.lock swift test -c release --skip-build --filter Seq2SeqStepTiming
import Foundation
import XCTest
import GPTCore
import GPTKernels

final class Seq2SeqStepTiming: XCTestCase {
    func testTrainingStepTimeOfA6LayerD256Model() throws {
        guard ProcessInfo.processInfo.environment["GPT_SEQ2SEQ_TIMING"] == "1" else {
            throw XCTSkip("a measurement: set GPT_SEQ2SEQ_TIMING=1 to run it")
        }
        let pool = try ThreadPool()
        let config = Seq2SeqConfig(vocabSize: 8000, modelSize: 256, headCount: 4, feedForwardSize: 1024, encoderLayerCount: 6,
                                   decoderLayerCount: 6, dropout: 0.1, maxPositions: 256)
        let model = try Seq2SeqTransformer(config: config, seed: 1, pool: pool)
        model.isTraining = true
        let optimizer = AdamW(count: model.layout.count, hyper: AdamWHyperparameters(beta1: 0.9, beta2: 0.98, eps: 1e-9, weightDecay: 0))
        var rng = SplitMix64(seed: 2)
        for (rows, length) in [(128, 32), (64, 64)] {
            // Lengths spread over 3/4…1 of `length`, as a length-grouped batch has them.
            let pairs = (0..<rows).map { _ -> (source: [Int32], target: [Int32]) in
                let s = length * 3 / 4 + Int(rng.next() % UInt64(length / 4 + 1))
                let t = length * 3 / 4 + Int(rng.next() % UInt64(length / 4))
                return ((0..<s).map { _ in Int32(3 + rng.next() % 7997) }, (0..<t).map { _ in Int32(3 + rng.next() % 7997) })
            }
            let batch = Seq2SeqBatch(pairs: pairs, pad: 0, bos: 1, eos: 2)
            var forward: [Double] = [], total: [Double] = []
            for step in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                model.zeroGradients()
                let loss = try XCTUnwrap(try model.forward(batch))
                let mid = DispatchTime.now().uptimeNanoseconds
                try model.backward()
                model.step(optimizer, learningRate: 1e-4, maxGradientNorm: 1)
                let end = DispatchTime.now().uptimeNanoseconds
                XCTAssert(loss.isFinite)
                if step >= 1 { forward.append(Double(mid - start) / 1e6); total.append(Double(end - start) / 1e6) }
            }
            let ms = total.sorted()[total.count / 2], fms = forward.sorted()[forward.count / 2]
            let sourceTokens = batch.sourceLengths.reduce(0) { $0 + Int($1) }, targetTokens = batch.targetTokenCount
            print(String(format: "seq2seq 6+6 × d256, ff 1024, vocab 8000, %d threads: batch %d × (S %d, T %d) = %d source + %d target tokens: "
                         + "median step %.0f ms (forward %.0f ms), %.0f target tokens/s",
                         pool.threadCount, rows, batch.sourceLength, batch.targetLength, sourceTokens, targetTokens, ms, fms,
                         Double(targetTokens) / (ms / 1000)))
        }
    }

    /// Decoding: one source of 30 tokens encoded once, then 40 steps of 1 (greedy) and 4 beams.
    func testDecodingStepTimeOfA6LayerD256Model() throws {
        guard ProcessInfo.processInfo.environment["GPT_SEQ2SEQ_TIMING"] == "1" else {
            throw XCTSkip("a measurement: set GPT_SEQ2SEQ_TIMING=1 to run it")
        }
        let pool = try ThreadPool()
        let config = Seq2SeqConfig(vocabSize: 8000, modelSize: 256, headCount: 4, feedForwardSize: 1024, encoderLayerCount: 6,
                                   decoderLayerCount: 6, dropout: 0.1, maxPositions: 256)
        let model = try Seq2SeqTransformer(config: config, seed: 1, pool: pool)
        var rng = SplitMix64(seed: 3)
        let source = (0..<30).map { _ in Int32(3 + rng.next() % 7997) }
        for beams in [1, 4] {
            let start = DispatchTime.now().uptimeNanoseconds
            let memory = try model.encode(sources: [source])
            let encoded = DispatchTime.now().uptimeNanoseconds
            let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: [Int](repeating: 0, count: beams), maxLength: 40)
            var tokens = [Int32](repeating: 1, count: beams)
            for _ in 0..<40 {
                let logits = try decoder.step(tokens: tokens)
                XCTAssert(logits[0].isFinite)
                tokens = (0..<beams).map { _ in Int32(3 + rng.next() % 7997) }
            }
            let end = DispatchTime.now().uptimeNanoseconds
            print(String(format: "seq2seq 6+6 × d256 decoding, %d threads, %d row(s): encode 30 tokens %.1f ms, %.2f ms per step over 40 steps",
                         pool.threadCount, beams, Double(encoded - start) / 1e6, Double(end - encoded) / 1e6 / 40))
        }
    }
}
