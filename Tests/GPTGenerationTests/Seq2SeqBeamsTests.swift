// Beam search over the encoder–decoder's cached decoder (Seq2SeqBeams) against the same search
// over a decoder that recomputes every beam from scratch with the teacher-forced forward pass:
// the caches, their reorder by parents and the shared cross-attention memory must not change
// a single hypothesis. Scores agree to 1e-5 (the two paths' logits agree to rounding; measured
// equal on these cases).
import XCTest
import GPTCore
import GPTGeneration
import GPTKernels

final class Seq2SeqBeamsTests: XCTestCase {
    /// Every step recomputed: the full forward over (source, each beam's whole history).
    struct Recomputed: BeamSearchDecoder {
        let model: Seq2SeqTransformer
        let source: [Int32]
        var histories: [[Int32]] = [[]]
        var vocabularySize: Int { model.config.vocabSize }

        mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] {
            histories = zip(parents, tokens).map { histories[$0.0] + [$0.1] }
            let m = histories.count, n = histories[0].count
            let batch = Seq2SeqBatch(batch: m, sourceLength: source.count, targetLength: n,
                                     source: Array([[Int32]](repeating: source, count: m).joined()),
                                     sourceLengths: [Int32](repeating: Int32(source.count), count: m),
                                     targetInput: Array(histories.joined()), targets: [],
                                     targetLengths: [Int32](repeating: Int32(n), count: m))
            try model.forward(batch)
            let logits = model.logits, v = vocabularySize
            var last: [Float] = []
            for r in 0..<m { last += logits[((r * n + n - 1) * v)..<((r * n + n) * v)] }
            return last.withUnsafeBufferPointer { BeamSearch.logSoftmax($0, vocabulary: v) }
        }
    }

    func testCachedBeamSearchFindsTheSameHypothesesAsRecomputation() throws {
        let pool = try ThreadPool(threads: 2)
        var rng = SplitMix64(seed: 31)
        for (normFirst, beams) in [(false, 1), (false, 4), (true, 3)] {
            let config = Seq2SeqConfig(vocabSize: 11, modelSize: 16, headCount: 2, feedForwardSize: 24, encoderLayerCount: 2,
                                       decoderLayerCount: 2, dropout: 0, maxPositions: 12, normFirst: normFirst)
            let model = try Seq2SeqTransformer(config: config, seed: 7 + UInt64(beams), pool: pool)
            let source = (0..<5).map { _ in Int32(3 + rng.next() % 8) }
            let options = BeamSearchOptions(beamSize: beams, maxLength: 8, endOfSequence: 2, lengthPenalty: .gnmt(alpha: 0.6),
                                            stopping: .atMaxLength)
            var cached = try Seq2SeqBeams(model: model, source: source, beams: beams, maxLength: 8)
            var recomputed = Recomputed(model: model, source: source)
            let a = try BeamSearch.search(&cached, start: 1, options: options)
            let b = try BeamSearch.search(&recomputed, start: 1, options: options)
            XCTAssertEqual(a.map(\.tokens), b.map(\.tokens), "normFirst \(normFirst), \(beams) beams")
            XCTAssertEqual(a.count, beams)
            for (x, y) in zip(a, b) { XCTAssertEqual(x.score, y.score, accuracy: 1e-5) }
        }
    }
}
