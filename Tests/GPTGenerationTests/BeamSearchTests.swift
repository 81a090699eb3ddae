// Beam search against an exhaustive search over every sequence of a tiny random "model"
// (vocabulary 5, at most 5 tokens): with a beam wide enough to hold every partial hypothesis
// it finds the exhaustive optimum of the length-penalised score; with one beam it is greedy
// decoding; and on a hand-made model beam 4 beats greedy.
import Foundation
import XCTest
import GPTGeneration

/// Next-token log-probabilities from a fixed random table indexed by a hash of the prefix.
/// Like a real decoder it keeps per-beam state (the prefix, standing in for a KV cache) and
/// reorders it by the parent indices, so a search that passes wrong parents gets wrong numbers.
private struct TableModel: BeamSearchDecoder {
    let vocabularySize: Int
    let seed: UInt64
    private(set) var beams: [[Int32]] = [[]]
    private(set) var steps = 0

    init(vocabularySize: Int, seed: UInt64) { self.vocabularySize = vocabularySize; self.seed = seed }

    mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] {
        beams = zip(tokens, parents).map { token, parent in beams[parent] + [token] }
        steps += 1
        return beams.flatMap { logProbabilities(after: $0) }
    }

    /// log-softmax of pseudo-random logits in [-3, 3) for this prefix (start token included).
    func logProbabilities(after prefix: [Int32]) -> [Float] {
        var h = seed &* 0x9E37_79B9_7F4A_7C15
        for t in prefix { h = (h ^ UInt64(bitPattern: Int64(t) + 11)) &* 0x1000_0000_01B3; h ^= h >> 29 }
        let logits = (0..<vocabularySize).map { i -> Double in
            var x = h &+ UInt64(i) &* 0xBF58_476D_1CE4_E5B9
            x ^= x >> 31; x = x &* 0x94D0_49BB_1331_11EB; x ^= x >> 29
            return Double(x >> 11) / Double(1 << 53) * 6 - 3
        }
        let m = logits.max()!
        let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
        return logits.map { Float($0 - lse) }
    }
}

/// A model given by explicit next-token probabilities per prefix (uniform where not listed).
private struct ExplicitModel: BeamSearchDecoder {
    let vocabularySize = 5
    let table: [[Int32]: [Double]]
    var beams: [[Int32]] = [[]]

    mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] {
        beams = zip(tokens, parents).map { token, parent in beams[parent] + [token] }
        return beams.flatMap { prefix in
            (table[Array(prefix.dropFirst())] ?? Array(repeating: 0.2, count: 5)).map { Float(log($0)) }
        }
    }
}

final class BeamSearchTests: XCTestCase {
    let eos: Int32 = 0, start: Int32 = 4, vocabulary = 5, maxLength = 5

    /// Every sequence: ending in EOS after 1…maxLength tokens, or maxLength tokens without EOS.
    private func exhaustiveBest(_ model: TableModel, penalty: LengthPenalty) -> BeamHypothesis {
        var best: BeamHypothesis?
        func visit(_ tokens: [Int32], _ logP: Double) {
            let probabilities = model.logProbabilities(after: [start] + tokens)
            for token in 0..<vocabulary {
                let sequence = tokens + [Int32(token)], s = logP + Double(probabilities[token])
                let ended = Int32(token) == eos
                if ended || sequence.count == maxLength {
                    let h = BeamHypothesis(tokens: sequence, logProbability: s, score: s / penalty.divisor(length: sequence.count),
                                           endedWithEOS: ended)
                    if best == nil || h.score > best!.score { best = h }
                } else {
                    visit(sequence, s)
                }
            }
        }
        visit([], 0)
        return best!
    }

    /// Argmax until EOS or maxLength, the lowest id on ties: written without the beam search.
    private func greedy(_ model: TableModel) -> [Int32] {
        var tokens: [Int32] = []
        while tokens.count < maxLength {
            let p = model.logProbabilities(after: [start] + tokens)
            let token = Int32(p.indices.max { p[$0] < p[$1] || (p[$0] == p[$1] && $0 > $1) }!)
            tokens.append(token)
            if token == eos { break }
        }
        return tokens
    }

    func testAWideBeamFindsTheExhaustiveOptimumOfTheLengthPenalisedScore() throws {
        // 4^5 = 1,024 partial hypotheses at most: a beam of 1,400 never prunes one.
        for seed in UInt64(1)...25 {
            for penalty in [LengthPenalty.gnmt(alpha: 0.6), .gnmt(alpha: 2), .power(alpha: 1), .none] {
                for stopping in [BeamSearchOptions.Stopping.beamFinished, .noBetterPossible, .atMaxLength] {
                    var model = TableModel(vocabularySize: vocabulary, seed: seed)
                    let options = BeamSearchOptions(beamSize: 1_400, maxLength: maxLength, endOfSequence: eos, lengthPenalty: penalty,
                                                    stopping: stopping)
                    let found = try BeamSearch.search(&model, start: start, options: options)
                    let exhaustive = exhaustiveBest(model, penalty: penalty)
                    XCTAssertEqual(found[0].tokens, exhaustive.tokens, "seed \(seed) \(penalty) \(stopping)")
                    XCTAssertEqual(found[0].score, exhaustive.score, accuracy: 1e-9, "seed \(seed) \(penalty)")
                    XCTAssertEqual(found[0].endedWithEOS, exhaustive.endedWithEOS, "seed \(seed) \(penalty)")
                    XCTAssertEqual(found.count, 341 + 1_024, "every sequence finished: 1+4+…+256 with EOS, 4^5 without")
                }
            }
        }
    }

    func testNoBetterPossibleStoppingGivesTheRunToMaxLengthAnswerInFewerSteps() throws {
        // The live beams evolve the same under every rule; only the step at which the search stops
        // differs. Stopping when no live beam can beat the K-th finished must lose nothing.
        var shorter = 0
        for seed in UInt64(1)...40 {
            for penalty in [LengthPenalty.none, .gnmt(alpha: 0.6), .gnmt(alpha: -0.5), .power(alpha: 1)] {
                var bounded = TableModel(vocabularySize: vocabulary, seed: seed), full = bounded
                var options = BeamSearchOptions(beamSize: 2, maxLength: maxLength, endOfSequence: eos, lengthPenalty: penalty,
                                                stopping: .noBetterPossible)
                let early = try BeamSearch.search(&bounded, start: start, options: options)
                options.stopping = .atMaxLength
                let late = try BeamSearch.search(&full, start: start, options: options)
                XCTAssertEqual(early, late, "seed \(seed) \(penalty): the same best 2")
                if bounded.steps < full.steps { shorter += 1 }
            }
        }
        XCTAssertGreaterThan(shorter, 0, "the rule ends some searches early")
    }

    func testBeamOneIsGreedyDecoding() throws {
        for seed in UInt64(1)...200 {
            var model = TableModel(vocabularySize: vocabulary, seed: seed)
            let options = BeamSearchOptions(beamSize: 1, maxLength: maxLength, endOfSequence: eos)
            let found = try BeamSearch.search(&model, start: start, options: options)
            XCTAssertEqual(found.count, 1)
            XCTAssertEqual(found[0].tokens, greedy(model), "seed \(seed)")
            var again = TableModel(vocabularySize: vocabulary, seed: seed)
            var streamed: [Int32] = []
            let g = try BeamSearch.greedy(&again, start: start, maxLength: maxLength, endOfSequence: eos) { streamed.append($0) }
            XCTAssertEqual(g.tokens, greedy(model))
            XCTAssertEqual(streamed, g.tokens.filter { $0 != eos }, "seed \(seed): each token streamed once, in order, EOS not")
        }
    }

    func testBeamFourBeatsGreedyWhenTheLikeliestFirstTokenLeadsNowhere() throws {
        // First token: 1 (p 0.5) or 2 (p 0.4). After 1 every token is equally likely (0.2);
        // after 2, EOS has p 0.96. Greedy: [1, EOS], P = 0.1. Beam: [2, EOS], P = 0.384.
        let table: [[Int32]: [Double]] = [[]: [0.05, 0.5, 0.4, 0.03, 0.02], [2]: [0.96, 0.01, 0.01, 0.01, 0.01]]
        var greedyModel = ExplicitModel(table: table)
        let g = try BeamSearch.greedy(&greedyModel, start: start, maxLength: maxLength, endOfSequence: eos)
        XCTAssertEqual(g.tokens, [1, 0])
        XCTAssertEqual(g.logProbability, log(0.5) + log(0.2), accuracy: 1e-6)
        var beamModel = ExplicitModel(table: table)
        let b = try BeamSearch.search(&beamModel, start: start, options: BeamSearchOptions(beamSize: 4, maxLength: maxLength, endOfSequence: eos))
        XCTAssertEqual(b[0].tokens, [2, 0])
        XCTAssertEqual(b[0].logProbability, log(0.4) + log(0.96), accuracy: 1e-6)
        XCTAssertEqual(b[0].score, b[0].logProbability / pow(7.0 / 6, 0.6), accuracy: 1e-6, "GNMT lp(2) = (7/6)^0.6")
        XCTAssertGreaterThan(b[0].score, g.logProbability / pow(7.0 / 6, 0.6))
    }

    func testLogSoftmaxRowsAreNormalisedLogProbabilities() {
        let logits: [Float] = [1, 2, 3, -1, 1000, 999, 1000, -1000]
        let out = logits.withUnsafeBufferPointer { BeamSearch.logSoftmax($0, vocabulary: 4) }
        for row in 0..<2 {
            let x = logits[(row * 4)..<(row * 4 + 4)].map(Double.init)
            let m = x.max()!, lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
            for i in 0..<4 { XCTAssertEqual(Double(out[row * 4 + i]), x[i] - lse, accuracy: 1e-4, "row \(row) token \(i)") }
            XCTAssertEqual(out[(row * 4)..<(row * 4 + 4)].reduce(0.0) { $0 + exp(Double($1)) }, 1, accuracy: 1e-6)
        }
    }

    func testBadOptionsAndBadModelOutputAreErrors() {
        var model = TableModel(vocabularySize: vocabulary, seed: 1)
        XCTAssertThrowsError(try BeamSearch.search(&model, start: start, options: .init(beamSize: 0, maxLength: 5, endOfSequence: eos)))
        XCTAssertThrowsError(try BeamSearch.search(&model, start: start, options: .init(beamSize: 2, maxLength: 0, endOfSequence: eos)))
        XCTAssertThrowsError(try BeamSearch.search(&model, start: start, options: .init(beamSize: 2, maxLength: 5, endOfSequence: 5)))
        struct NaNModel: BeamSearchDecoder {
            let vocabularySize = 3
            mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] { [0, .nan, -1] }
        }
        var nan = NaNModel()
        XCTAssertThrowsError(try BeamSearch.search(&nan, start: 0, options: .init(beamSize: 2, maxLength: 3, endOfSequence: 2))) {
            XCTAssertEqual($0 as? BeamSearchError, .notALogProbability(beam: 0, token: 1))
        }
        struct ImpossibleModel: BeamSearchDecoder {
            let vocabularySize = 3
            mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] { [-.infinity, -.infinity, -.infinity] }
        }
        var impossible = ImpossibleModel()
        XCTAssertThrowsError(try BeamSearch.greedy(&impossible, start: 0, maxLength: 3, endOfSequence: 2)) {
            XCTAssertEqual($0 as? BeamSearchError, .noHypothesis)
        }
        struct ShortModel: BeamSearchDecoder {
            let vocabularySize = 3
            mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] { [0, -1] }
        }
        var short = ShortModel()
        XCTAssertThrowsError(try BeamSearch.search(&short, start: 0, options: .init(beamSize: 2, maxLength: 3, endOfSequence: 2))) {
            XCTAssertEqual($0 as? BeamSearchError, .wrongLogProbabilityCount(expected: 3, got: 2))
        }
    }
}
