// Beam search on a real (tiny, random) encoder–decoder through its cached decoder, against an
// exhaustive search whose log-probabilities come from the teacher-forced forward pass instead
// (the path the PyTorch parity test checks): vocabulary 5, at most 4 generated tokens.
import Foundation
import XCTest
import GPTCore
import GPTGeneration
import GPTKernels

final class Seq2SeqBeamSearchTests: XCTestCase {
    let maxLength = 4

    /// log P(next | prefix) for every prefix of up to maxLength − 1 tokens, from one teacher-forced forward.
    private func table(_ model: Seq2SeqTransformer, source: [Int32]) throws -> [[Int32]: [Double]] {
        let v = model.config.vocabSize
        let prefixes = (0..<Int(pow(Double(v), Double(maxLength - 1)))).map { n -> [Int32] in
            (0..<(maxLength - 1)).map { Int32((n / Int(pow(Double(v), Double($0)))) % v) }
        }
        let batch = Seq2SeqBatch(pairs: prefixes.map { (source: source, target: $0) }, pad: 0, bos: Int32(model.config.bosTokenId),
                                 eos: Int32(model.config.eosTokenId))
        _ = try model.forward(batch)
        let logits = Array(model.logits), t = batch.targetLength
        var out: [[Int32]: [Double]] = [:]
        for (row, prefix) in prefixes.enumerated() {
            for i in 0..<t {
                let x = logits[((row * t + i) * v)..<((row * t + i + 1) * v)].map(Double.init)
                let m = x.max()!, lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
                out[Array(prefix.prefix(i))] = x.map { $0 - lse }
            }
        }
        return out
    }

    private func exhaustive(_ table: [[Int32]: [Double]], eos: Int32, penalty: LengthPenalty) -> (tokens: [Int32], score: Double) {
        var best: (tokens: [Int32], score: Double) = ([], -.infinity)
        func visit(_ prefix: [Int32], _ logP: Double) {
            for (token, lp) in table[prefix]!.enumerated() {
                let sequence = prefix + [Int32(token)], s = logP + lp
                if Int32(token) == eos || sequence.count == maxLength {
                    let score = s / penalty.divisor(length: sequence.count)
                    if score > best.score { best = (sequence, score) }
                } else {
                    visit(sequence, s)
                }
            }
        }
        visit([], 0)
        return best
    }

    func testWideBeamOverTheCachedDecoderFindsTheTeacherForcedExhaustiveOptimumAndBeamOneIsGreedy() throws {
        let pool = try ThreadPool(threads: 2)
        for (seed, normFirst) in [(UInt64(3), false), (7, true), (11, false)] {
            let config = Seq2SeqConfig(vocabSize: 5, modelSize: 16, headCount: 2, feedForwardSize: 24, encoderLayerCount: 2,
                                       decoderLayerCount: 2, dropout: 0, maxPositions: 8, normFirst: normFirst)
            let model = try Seq2SeqTransformer(config: config, seed: seed, pool: pool)
            let source: [Int32] = [3, 4, 4, 3, 0, 1]
            let logP = try table(model, source: source)
            let eos = Int32(config.eosTokenId)
            // 320 beams hold every candidate (64 live prefixes × 5 tokens at the last step): nothing is pruned.
            for penalty in [LengthPenalty.gnmt(alpha: 0.6), .none] {
                let options = BeamSearchOptions(beamSize: 320, maxLength: maxLength, endOfSequence: eos, lengthPenalty: penalty)
                var beams = try Seq2SeqBeams(model: model, source: source, beams: options.beamSize, maxLength: maxLength)
                let found = try BeamSearch.search(&beams, start: Int32(config.bosTokenId), options: options)
                let best = exhaustive(logP, eos: eos, penalty: penalty)
                XCTAssertEqual(found[0].tokens, best.tokens, "seed \(seed) \(penalty)")
                XCTAssertEqual(found[0].score, best.score, accuracy: 1e-4, "seed \(seed) \(penalty): cached vs teacher-forced")
            }
            var greedy: [Int32] = []
            while greedy.count < maxLength, greedy.last != eos {
                let p = logP[greedy]!
                greedy.append(Int32(p.indices.max { p[$0] < p[$1] || (p[$0] == p[$1] && $0 > $1) }!))
            }
            var streamed: [Int32] = []
            var one = try Seq2SeqBeams(model: model, source: source, beams: 1, maxLength: maxLength)
            let found = try BeamSearch.greedy(&one, start: Int32(config.bosTokenId), maxLength: maxLength, endOfSequence: eos) {
                streamed.append($0)
            }
            XCTAssertEqual(found.tokens, greedy, "seed \(seed): beam 1 is greedy")
            XCTAssertEqual(streamed, greedy.filter { $0 != eos })
        }
    }
}
