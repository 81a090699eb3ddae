// The whole model's backward with dropout on, which the PyTorch parity cannot cover (its masks
// are not ours): directional derivatives by central differences of the loss, with every dropout
// mask held fixed (the same seed and pass), against the gradient's dot product with the direction.
//
// Bound: |fd − g·u| ≤ 2e-3 · |g| (|u| = 1). The loss is computed in Float (rounding ~2e-7 of a
// loss ~3, so ~7e-4 absolute in fd with h = 3e-4, against |g| ≈ 3), and ReLU kinks crossed by ±h
// add a little: measured worst 1.5e-4 · |g| (margin 13×; h = 1e-3 gave 1.7e-3 along the gradient,
// from kinks). With the feed-forward dropout's backward removed, the gradient direction was off
// by 0.15 · |g| and a random one by 5e-3 · |g|: both fail.
import XCTest
import GPTCore
import GPTKernels

final class Seq2SeqGradientTests: XCTestCase {
    func testBackwardWithDropoutMatchesDirectionalFiniteDifferences() throws {
        let pool = try ThreadPool(threads: 2)
        for (normFirst, finalNorm) in [(false, true), (true, true), (false, false)] {
            let config = Seq2SeqConfig(vocabSize: 19, modelSize: 12, headCount: 3, feedForwardSize: 20, encoderLayerCount: 2,
                                       decoderLayerCount: 2, dropout: 0.2, maxPositions: 10, normFirst: normFirst,
                                       shareEmbeddings: !normFirst, finalNorm: finalNorm)
            let model = try Seq2SeqTransformer(config: config, seed: 21, pool: pool)
            model.isTraining = true
            model.dropoutSeed = 8
            var rng = SplitMix64(seed: 22)
            func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(3 + rng.next() % 16) } }
            let batch = Seq2SeqBatch(pairs: [(tokens(6), tokens(3)), (tokens(2), tokens(5)), (tokens(4), tokens(1))],
                                     pad: 0, bos: 1, eos: 2)
            func loss() throws -> Double {
                model.passCount = 0  // the same masks on every pass
                return Double(try XCTUnwrap(try model.forward(batch)))
            }
            _ = try loss()
            model.zeroGradients()
            try model.backward()
            let n = model.layout.count
            let g = Array(UnsafeBufferPointer(start: model.gradients!, count: n))
            let gNorm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let original = Array(UnsafeBufferPointer(start: model.parameters, count: n))
            for direction in 0..<3 {
                // A random unit direction, and (direction 0) the gradient's own.
                var u = direction == 0 ? g.map(Double.init) : (0..<n).map { _ in rng.nextUnitInterval() * 2 - 1 }
                let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
                u = u.map { $0 / norm }
                let h = 3e-4
                func shifted(_ s: Double) throws -> Double {
                    for i in 0..<n { model.parameters[i] = Float(Double(original[i]) + s * h * u[i]) }
                    return try loss()
                }
                let fd = (try shifted(1) - shifted(-1)) / (2 * h)
                let analytic = zip(g, u).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                print(String(format: "seq2seq directional check (normFirst %@, finalNorm %@, direction %d): |fd − g·u| / |g| = %.2g",
                             "\(normFirst)", "\(finalNorm)", direction, abs(fd - analytic) / gNorm))
                XCTAssertLessThanOrEqual(abs(fd - analytic), 2e-3 * gNorm,
                                         "normFirst \(normFirst) finalNorm \(finalNorm) direction \(direction): fd \(fd), g·u \(analytic), |g| \(gNorm)")
                for i in 0..<n { model.parameters[i] = original[i] }
            }
        }
    }

    /// The hook for another loss (label smoothing): a caller that writes the cross-entropy's own
    /// gradient into `logits` and calls `backwardFromLogitGradient` gets exactly `backward`'s gradients.
    func testBackwardFromAWrittenLogitGradientEqualsBackward() throws {
        let pool = try ThreadPool(threads: 2)
        let config = Seq2SeqConfig(vocabSize: 19, modelSize: 12, headCount: 3, feedForwardSize: 20, encoderLayerCount: 1,
                                   decoderLayerCount: 2, dropout: 0, maxPositions: 10)
        let model = try Seq2SeqTransformer(config: config, seed: 2, pool: pool)
        let batch = Seq2SeqBatch(pairs: [([3, 4, 5], [6, 7]), ([8], [9, 10, 11])], pad: 0, bos: 1, eos: 2)
        try model.forward(batch)
        model.zeroGradients()
        try model.backward()
        let expected = Array(UnsafeBufferPointer(start: model.gradients!, count: model.layout.count))
        try model.forward(batch)
        model.zeroGradients()
        let logits = model.logits, rows = batch.batch * batch.targetLength
        batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.backward(dlogits: logits.baseAddress!, logits: logits.baseAddress!, targets: targets.baseAddress!,
                                  rows: rows, vocab: 19, dloss: 1 / Float(batch.targetTokenCount), pool: pool)
        }
        model.backwardFromLogitGradient()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.gradients!, count: model.layout.count)), expected)
        XCTAssertNotEqual(expected.filter { $0 != 0 }.count, 0)
    }
}
