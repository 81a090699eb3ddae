// Beam search for sequence-to-sequence decoding, generic over the model through
// `BeamSearchDecoder`: each step hands the model the M live beams' newest tokens and the
// index of the beam each extends, so a model with per-beam state (an encoder–decoder's
// self-attention KV cache; its cross-attention keys and values are shared by all beams)
// reorders that state by the parent indices, appends the tokens and returns M × V log-probabilities.
//
// The search follows fairseq's `sequence_generator.py` and Hugging Face's `BeamSearchScorer`:
// - from the K live beams, the 2K best (beam, token) continuations by summed log-probability;
// - an end-of-sequence continuation ranked within the first K finishes a hypothesis (kept with
//   its EOS); the best K other continuations are the next live beams;
// - at `maxLength` generated tokens the live beams finish without EOS;
// - length penalty on finished hypotheses: score = log P / lp(length), length counting the
//   generated tokens including EOS; lp is GNMT's ((5 + length)/6)^α (Wu et al. 2016, eq. 14; the
//   2017 Transformer's α = 0.6; tensor2tensor and OpenNMT-py's `wu`), or length^α as fairseq,
//   Hugging Face and Marian divide by, or none;
// - stopping: `.beamFinished` (fairseq's rule, Hugging Face's early_stopping=True) ends the
//   search once K hypotheses have finished; `.noBetterPossible` continues until no live beam can
//   still beat the K-th best finished one within `maxLength` (its log-probability can only fall,
//   so its best normalised score is at the length where lp is largest), which gives the same
//   best K as `.atMaxLength` (run until every beam has finished or reached maxLength) sooner.
// - ties (equal scores) go to the lower beam index, then the lower token id; among finished
//   hypotheses with equal scores, to the one that finished first. With K = 1 and `.beamFinished`
//   the search is greedy decoding (argmax, lowest id on ties, until EOS or maxLength).
import Foundation

/// The model side of beam search. The encoder–decoder plugs in as `Seq2SeqBeams`: its decoder
/// is created with as many rows as the beam size (a reorder cannot grow past them), and each step
/// reorders the rows' KV caches by `parents`, feeds `tokens` and returns log-softmax of the logits.
public protocol BeamSearchDecoder {
    /// V: the width of each row of log-probabilities.
    var vocabularySize: Int { get }
    /// One decoding step for M live beams. Beam i continues the beam that was `parents[i]` in the
    /// previous call (in the first call, M = 1 and the parent 0 is the initial state, e.g. after
    /// encoding the source) with token `tokens[i]`; several beams may share a parent. Returns
    /// the log-probabilities of the next token, [M, V] row-major.
    mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float]
}

public enum LengthPenalty: Equatable, Sendable {
    /// ((5 + length) / 6)^α: GNMT's, used by the 2017 Transformer with α = 0.6.
    case gnmt(alpha: Double)
    /// length^α: fairseq's `--lenpen`, Hugging Face's `length_penalty`, Marian's `--normalize`.
    case power(alpha: Double)
    case none

    /// The divisor of a hypothesis's summed log-probability.
    public func divisor(length: Int) -> Double {
        switch self {
        case let .gnmt(alpha): return pow((5 + Double(length)) / 6, alpha)
        case let .power(alpha): return pow(Double(length), alpha)
        case .none: return 1
        }
    }
}

public struct BeamSearchOptions: Equatable, Sendable {
    public enum Stopping: Equatable, Sendable { case beamFinished, noBetterPossible, atMaxLength }

    public var beamSize: Int
    /// Generated tokens at most, EOS included.
    public var maxLength: Int
    public var endOfSequence: Int32
    public var lengthPenalty: LengthPenalty
    public var stopping: Stopping

    public init(beamSize: Int = 4, maxLength: Int, endOfSequence: Int32, lengthPenalty: LengthPenalty = .gnmt(alpha: 0.6),
                stopping: Stopping = .beamFinished) {
        self.beamSize = beamSize; self.maxLength = maxLength; self.endOfSequence = endOfSequence
        self.lengthPenalty = lengthPenalty; self.stopping = stopping
    }
}

/// A finished hypothesis.
public struct BeamHypothesis: Equatable, Sendable {
    /// The generated tokens, ending with EOS when `endedWithEOS`.
    public var tokens: [Int32]
    /// Σ log P of the tokens.
    public var logProbability: Double
    /// logProbability / lp(tokens.count): what the search ranks by.
    public var score: Double
    public var endedWithEOS: Bool

    public init(tokens: [Int32], logProbability: Double, score: Double, endedWithEOS: Bool) {
        self.tokens = tokens; self.logProbability = logProbability; self.score = score; self.endedWithEOS = endedWithEOS
    }
}

public enum BeamSearchError: Error, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case wrongLogProbabilityCount(expected: Int, got: Int)
    case notALogProbability(beam: Int, token: Int)
    /// Every continuation had log-probability −infinity before any hypothesis finished.
    case noHypothesis

    public var description: String {
        switch self {
        case let .invalidOption(what): return "beam search: \(what)"
        case let .wrongLogProbabilityCount(expected, got):
            return "beam search: the model returned \(got) log-probabilities, expected \(expected) (live beams × vocabulary)"
        case let .notALogProbability(beam, token):
            return "beam search: the model's log-probability for token \(token) of beam \(beam) is NaN or +infinity"
        case .noHypothesis:
            return "beam search: the model gave every continuation probability 0 before any hypothesis finished"
        }
    }
}

public enum BeamSearch {
    /// Hypotheses best first (at most `beamSize`), decoding from `start` (the decoder's first input token).
    public static func search<D: BeamSearchDecoder>(_ decoder: inout D, start: Int32,
                                                    options: BeamSearchOptions) throws -> [BeamHypothesis] {
        try search(&decoder, start: start, options: options, committed: nil)
    }

    /// `committed` (used with one beam and `.beamFinished` only, where a token once chosen is
    /// never revisited) receives each token as soon as it is chosen, EOS excepted.
    private static func search<D: BeamSearchDecoder>(_ decoder: inout D, start: Int32, options: BeamSearchOptions,
                                                     committed: ((Int32) -> Void)?) throws -> [BeamHypothesis] {
        var state = try BeamSearchState(start: start, options: options, vocabulary: decoder.vocabularySize)
        while !state.isDone {
            let logProbabilities = try decoder.step(tokens: state.tokens, parents: state.parents)
            let token = try logProbabilities.withUnsafeBufferPointer { try state.advance($0) }
            if let committed, let token { committed(token) }
        }
        return try state.hypotheses()
    }

    /// Greedy decoding: beam search with one beam, stopping at EOS. `onToken` streams each
    /// generated token (EOS excepted) as soon as it is chosen.
    public static func greedy<D: BeamSearchDecoder>(_ decoder: inout D, start: Int32, maxLength: Int, endOfSequence: Int32,
                                                    onToken: ((Int32) -> Void)? = nil) throws -> BeamHypothesis {
        let options = BeamSearchOptions(beamSize: 1, maxLength: maxLength, endOfSequence: endOfSequence, lengthPenalty: .none)
        return try search(&decoder, start: start, options: options, committed: onToken)[0]
    }

    /// Log-softmax of each row of `logits` ([M, V] row-major), in Double for the sums: what a
    /// model's `step` returns when its forward ends in logits.
    public static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, vocabulary v: Int) -> [Float] {
        precondition(v > 0 && logits.count % v == 0, "logits are rows of the vocabulary size")
        var out = [Float](repeating: 0, count: logits.count)
        for row in 0..<(logits.count / v) {
            let x = UnsafeBufferPointer(rebasing: logits[(row * v)..<(row * v + v)])
            let m = Double(x.max()!)
            var total = 0.0
            for value in x { total += exp(Double(value) - m) }
            let lse = m + log(total)
            for (i, value) in x.enumerated() { out[row * v + i] = Float(Double(value) - lse) }
        }
        return out
    }

    /// Best first; equal scores keep the order in which they finished (a stable sort).
    static func ranked(_ finished: [BeamHypothesis]) -> [BeamHypothesis] {
        finished.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }.map(\.element)
    }

    fileprivate static func done(finished: [BeamHypothesis], live: [(tokens: [Int32], logProbability: Double)], length: Int,
                             options: BeamSearchOptions) -> Bool {
        guard finished.count >= options.beamSize else { return false }
        switch options.stopping {
        case .beamFinished:
            return true
        case .atMaxLength:
            return false
        case .noBetterPossible:
            let worstKept = ranked(finished)[options.beamSize - 1].score
            let largest = max(options.lengthPenalty.divisor(length: length + 1), options.lengthPenalty.divisor(length: options.maxLength))
            let smallest = min(options.lengthPenalty.divisor(length: length + 1), options.lengthPenalty.divisor(length: options.maxLength))
            // A log-probability s ≤ 0 is best divided by the largest lp; only s = 0 could tie.
            return live.allSatisfy { beam in
                let bound = beam.logProbability <= 0 ? beam.logProbability / largest : beam.logProbability / smallest
                return bound <= worstKept
            }
        }
    }

    fileprivate struct Candidate { var score: Double; var beam: Int; var token: Int32 }

    /// The `count` best (beam, token) continuations: highest summed log-probability first, ties
    /// to the lower beam, then the lower token. −infinity (an impossible token) is never chosen.
    fileprivate static func best(_ count: Int, of logProbabilities: UnsafeBufferPointer<Float>, beams: [Double],
                                 vocabulary v: Int) throws -> [Candidate] {
        func better(_ a: Candidate, _ b: Candidate) -> Bool {
            if a.score != b.score { return a.score > b.score }
            if a.beam != b.beam { return a.beam < b.beam }
            return a.token < b.token
        }
        var kept: [Candidate] = []  // sorted best first, at most `count`
        kept.reserveCapacity(count + 1)
        for (beam, base) in beams.enumerated() {
            for token in 0..<v {
                let lp = logProbabilities[beam * v + token]
                guard !lp.isNaN, lp != .infinity else { throw BeamSearchError.notALogProbability(beam: beam, token: token) }
                guard lp != -.infinity else { continue }
                let c = Candidate(score: base + Double(lp), beam: beam, token: Int32(token))
                if kept.count == count, let last = kept.last, !better(c, last) { continue }
                var i = kept.count
                while i > 0, better(c, kept[i - 1]) { i -= 1 }
                kept.insert(c, at: i)
                if kept.count > count { kept.removeLast() }
            }
        }
        return kept
    }
}

/// One search between steps: its live beams, its finished hypotheses, and the tokens and parents its
/// next step feeds. `BeamSearch.search` drives one; `Translator` drives several over one decoder
/// whose rows hold every search's live beams side by side (rows do not interact, so each search
/// gets the hypotheses it would get alone).
public struct BeamSearchState {
    public let options: BeamSearchOptions
    public let vocabulary: Int
    /// The live beams' newest tokens, and the beam of the previous step each extends (in the first
    /// step, the start token and parent 0): what the next step feeds.
    public private(set) var tokens: [Int32]
    public private(set) var parents: [Int] = [0]
    public private(set) var isDone = false
    private var live: [(tokens: [Int32], logProbability: Double)] = [([], 0)]
    private var finished: [BeamHypothesis] = []
    private var length = 0

    public init(start: Int32, options: BeamSearchOptions, vocabulary v: Int) throws {
        let k = options.beamSize
        guard k >= 1 else { throw BeamSearchError.invalidOption("the beam size is \(k), expected at least 1") }
        guard options.maxLength >= 1 else { throw BeamSearchError.invalidOption("the max length is \(options.maxLength), expected at least 1") }
        guard v >= 1, (0..<v).contains(Int(options.endOfSequence)) else {
            throw BeamSearchError.invalidOption("the end-of-sequence id \(options.endOfSequence) is outside the vocabulary of \(v)")
        }
        self.options = options; self.vocabulary = v; tokens = [start]
    }

    /// Live beams: the rows the next step feeds.
    public var liveCount: Int { tokens.count }

    /// Takes the step's log-probabilities of this search's live beams ([liveCount, V]) and chooses the
    /// next beams. Returns the one live token when the search has one beam and the step finished
    /// nothing (what greedy decoding streams).
    public mutating func advance(_ logProbabilities: UnsafeBufferPointer<Float>) throws -> Int32? {
        precondition(!isDone, "advance after the search ended")
        let k = options.beamSize, v = vocabulary
        length += 1
        guard logProbabilities.count == live.count * v else {
            throw BeamSearchError.wrongLogProbabilityCount(expected: live.count * v, got: logProbabilities.count)
        }
        let candidates = try BeamSearch.best(2 * k, of: logProbabilities, beams: live.map(\.logProbability), vocabulary: v)
        var next: [(tokens: [Int32], logProbability: Double)] = []
        tokens = []; parents = []
        let finishedBefore = finished.count
        for (rank, c) in candidates.enumerated() {
            if c.token == options.endOfSequence {
                if rank < k {
                    finished.append(BeamHypothesis(tokens: live[c.beam].tokens + [c.token], logProbability: c.score,
                                                   score: c.score / options.lengthPenalty.divisor(length: length), endedWithEOS: true))
                }
            } else if next.count < k {
                next.append((live[c.beam].tokens + [c.token], c.score))
                tokens.append(c.token); parents.append(c.beam)
            }
        }
        let streamed = k == 1 && finished.count == finishedBefore ? tokens.first : nil
        if length == options.maxLength {
            for beam in next {
                finished.append(BeamHypothesis(tokens: beam.tokens, logProbability: beam.logProbability,
                                               score: beam.logProbability / options.lengthPenalty.divisor(length: length),
                                               endedWithEOS: false))
            }
            next = []
        }
        live = next
        if live.isEmpty || BeamSearch.done(finished: finished, live: live, length: length, options: options) {
            isDone = true; tokens = []; parents = []
        }
        return streamed
    }

    /// Hypotheses best first (at most `beamSize`).
    public func hypotheses() throws -> [BeamHypothesis] {
        guard !finished.isEmpty else { throw BeamSearchError.noHypothesis }
        return Array(BeamSearch.ranked(finished).prefix(options.beamSize))
    }
}
