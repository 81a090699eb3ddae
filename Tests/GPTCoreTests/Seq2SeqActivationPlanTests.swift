// The activation plan under token-budget batches: many short rows, then a few long ones. The
// buffers must grow to the larger of each product (B·S, B·T, the attention scores) on its own,
// not to the largest B times the largest S and T, and a batch run on the grown plan must give the
// logits a fresh model gives (bit for bit: the buffers are laid out by the batch, not the plan).
import XCTest
import GPTCore
import GPTKernels

final class Seq2SeqActivationPlanTests: XCTestCase {
    func testThePlanGrowsByTokensNotByTheProductOfTheLargestShapes() throws {
        let pool = try ThreadPool(threads: 2)
        let config = Seq2SeqConfig(vocabSize: 41, modelSize: 16, headCount: 2, feedForwardSize: 24, encoderLayerCount: 1,
                                   decoderLayerCount: 1, dropout: 0, maxPositions: 64, finalNorm: false)
        var rng = SplitMix64(seed: 3)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(3 + rng.next() % 38) } }
        // 32 rows of 3 → 5 tokens, then 2 rows of 60 → 47 tokens: about 160 and 220 positions a batch.
        let wide = Seq2SeqBatch(pairs: (0..<32).map { _ in (tokens(3), tokens(4)) }, pad: 0, bos: 1, eos: 2)
        let long = Seq2SeqBatch(pairs: [(tokens(60), tokens(46)), (tokens(41), tokens(30))], pad: 0, bos: 1, eos: 2)

        let model = try Seq2SeqTransformer(config: config, seed: 4, pool: pool)
        try model.forward(wide)
        let afterWide = model.plannedActivationFloats
        try model.forward(long)
        let grown = model.plannedActivationFloats
        XCTAssertGreaterThan(grown, afterWide)
        try model.forward(wide)
        XCTAssertEqual(model.plannedActivationFloats, grown, "a batch the plan covers does not re-plan")

        // The old rule: the largest rows × the longest source × the longest target.
        let product = try config.activationBytes(batch: 32, source: 60, target: 47, threads: 2) / 4
        let eachAlone = try max(config.activationBytes(batch: 32, source: 3, target: 5, threads: 2),
                                config.activationBytes(batch: 2, source: 60, target: 47, threads: 2)) / 4
        print("activation floats: union of shapes \(grown), largest single batch \(eachAlone), product of maxima \(product)")
        XCTAssertLessThan(grown, product / 4, "the plan must not multiply the largest rows by the longest lengths")
        XCTAssertLessThanOrEqual(grown, 2 * eachAlone)

        let fresh = try Seq2SeqTransformer(config: config, seed: 4, pool: pool)
        let expected = try XCTUnwrap(fresh.forward(long))
        let freshLogits = Array(fresh.logits)
        let loss = try XCTUnwrap(model.forward(long))
        XCTAssertEqual(loss.bitPattern, expected.bitPattern)
        XCTAssertEqual(Array(model.logits), freshLogits, "logits on the grown plan equal a fresh model's")
    }
}
