// Choosing the next token from logits. The chain, in this order (as Hugging Face's
// generate applies its logits processors):
//   1. repetition penalty: a logit of a token already in the sequence is divided by
//      the penalty if positive, multiplied if negative (CTRL, Keskar et al. 2019);
//   1b. presence and frequency penalties (OpenAI's definition): the logit of token j is
//      lowered by count[j] × frequency_penalty + (count[j] > 0) × presence_penalty, where
//      count[j] is how often j was generated so far (the prompt does not count);
//   2. temperature: logits ÷ T; T = 0 means greedy (the arg-max, first on ties);
//   3. top-k: keep the k largest;
//   4. top-p (nucleus): keep the smallest set of the most likely tokens whose
//      probability sums to at least p (Holtzman et al. 2019);
//   5. draw from the softmax of what is left with the seeded generator.
import Foundation
import GPTKernels

public struct SamplingOptions: Equatable, Sendable {
    public var temperature: Float = 1
    public var topK: Int?
    public var topP: Float?
    public var repetitionPenalty: Float = 1
    /// OpenAI's `presence_penalty` and `frequency_penalty`, each in -2...2.
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, repetitionPenalty: Float = 1,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty; self.frequencyPenalty = frequencyPenalty
    }

    /// Whether the presence or frequency penalty changes anything (then generated tokens are counted).
    public var countsOccurrences: Bool { presencePenalty != 0 || frequencyPenalty != 0 }

    /// Checks every option; the error says which and what is allowed.
    public func validate() throws {
        if !(temperature >= 0) || !temperature.isFinite { throw SamplingError.invalid("temperature", "\(temperature)", "must be ≥ 0") }
        if let k = topK, k < 1 { throw SamplingError.invalid("top-k", "\(k)", "must be ≥ 1") }
        if let p = topP, !(p > 0 && p <= 1) { throw SamplingError.invalid("top-p", "\(p)", "must be in (0, 1]") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite {
            throw SamplingError.invalid("repetition-penalty", "\(repetitionPenalty)", "must be > 0")
        }
        if !(-2...2).contains(presencePenalty) { throw SamplingError.invalid("presence-penalty", "\(presencePenalty)", "must be in -2...2") }
        if !(-2...2).contains(frequencyPenalty) { throw SamplingError.invalid("frequency-penalty", "\(frequencyPenalty)", "must be in -2...2") }
    }
}

public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(String, String, String)
    public var description: String {
        switch self { case let .invalid(option, value, rule): return "invalid \(option) \(value): \(rule)" }
    }
}

public struct Sampler {
    public let options: SamplingOptions
    // Working arrays, vocabulary-sized, kept from one token to the next: a sampler called once per
    // token would otherwise allocate and free about 1 MB each time (scores, candidate ids, weights).
    var scores: [Float] = []
    var candidates: [Int] = []
    var weights: [Double] = []
    var order: [Int] = []

    public init(options: SamplingOptions) { self.options = options }

    /// The next token for one sequence. logits: [V]; `history`: the sequence so far, of which
    /// the first `promptLength` tokens are the prompt (not counted by the presence and frequency penalties).
    public mutating func next(_ logits: UnsafeBufferPointer<Float>, history: [Int32], promptLength: Int = 0,
                              rng: inout SplitMix64) -> Int32 {
        var generated: [Int32: Int] = [:]
        if options.countsOccurrences { for token in history.dropFirst(promptLength) { generated[token, default: 0] += 1 } }
        return next(logits, present: options.repetitionPenalty == 1 ? [] : Array(Set(history)), generated: generated, rng: &rng)
    }

    /// The next token, given each token already in the sequence once (`present`, in any order): what
    /// the repetition penalty needs, kept up to date per token by the caller (`Generator` does),
    /// where rebuilding it from the whole history would make a long sample quadratic. `generated`:
    /// how often each token was generated (not in the prompt), for the presence and frequency penalties.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>, present: [Int32], generated: [Int32: Int] = [:],
                              rng: inout SplitMix64) -> Int32 {
        let penalized = options.repetitionPenalty != 1 || options.countsOccurrences
        // Greedy without penalties reads the logits as they are: nothing to copy.
        if options.temperature == 0 && !penalized { return Int32(Self.argmax(logits)) }
        scores.removeAll(keepingCapacity: true)
        scores.append(contentsOf: logits)
        Self.penalizeRepetition(&scores, present: present, penalty: options.repetitionPenalty)
        Self.penalizeOccurrences(&scores, generated: generated, presence: options.presencePenalty, frequency: options.frequencyPenalty)
        guard options.temperature > 0 else { return Int32(scores.withUnsafeBufferPointer { Self.argmax($0) }) }
        for i in scores.indices { scores[i] /= options.temperature }
        Self.topK(scores, options.topK, into: &candidates)
        Self.softmax(scores, over: candidates, into: &weights)
        if let p = options.topP, p < 1 { Self.nucleus(&candidates, &weights, p, order: &order) }
        return Int32(Self.draw(candidates, weights, rng: &rng))
    }

    /// `present`: distinct tokens.
    static func penalizeRepetition(_ scores: inout [Float], present: [Int32], penalty: Float) {
        guard penalty != 1 else { return }
        for token in present where token >= 0 && Int(token) < scores.count {
            let s = scores[Int(token)]
            scores[Int(token)] = s > 0 ? s / penalty : s * penalty
        }
    }

    static func penalizeOccurrences(_ scores: inout [Float], generated: [Int32: Int], presence: Float, frequency: Float) {
        guard presence != 0 || frequency != 0 else { return }
        for (token, count) in generated where count > 0 && token >= 0 && Int(token) < scores.count {
            scores[Int(token)] -= Float(count) * frequency + presence
        }
    }

    /// The first index of the largest score.
    static func argmax(_ scores: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return best
    }

    /// Indices of the k largest scores (all when k is nil or ≥ V), largest first when cut, into `out`.
    static func topK(_ scores: [Float], _ k: Int?, into out: inout [Int]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: scores.indices)
        guard let k, k < scores.count else { return }
        // A size-k min-heap would be O(V log k); a partial sort of indices is simpler and fast enough here.
        out.sort { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        out.removeSubrange(k...)
    }

    static func softmax(_ scores: [Float], over candidates: [Int], into weights: inout [Double]) {
        var m = -Float.infinity
        for c in candidates { m = max(m, scores[c]) }
        if candidates.isEmpty { m = 0 }
        weights.removeAll(keepingCapacity: true)
        var total = 0.0
        for c in candidates {
            let w = exp(Double(scores[c] - m))
            weights.append(w)
            total += w
        }
        for i in weights.indices { weights[i] /= total }
    }

    /// Keeps the most likely candidates until their probability reaches p (at least one). `order`: scratch.
    static func nucleus(_ candidates: inout [Int], _ weights: inout [Double], _ p: Float, order: inout [Int]) {
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: weights.indices)
        order.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && candidates[$0] < candidates[$1]) }
        var mass = 0.0, kept = 0
        for i in order {
            kept += 1
            mass += weights[i]
            if mass >= Double(p) { break }
        }
        // The nucleus is usually small: gathered into two short arrays, then written back in place.
        let keptCandidates = order.prefix(kept).map { candidates[$0] }, keptWeights = order.prefix(kept).map { weights[$0] }
        let total = keptWeights.reduce(0, +)
        candidates.removeAll(keepingCapacity: true)
        candidates.append(contentsOf: keptCandidates)
        weights.removeAll(keepingCapacity: true)
        weights.append(contentsOf: keptWeights.lazy.map { $0 / total })
    }

    static func draw(_ candidates: [Int], _ weights: [Double], rng: inout SplitMix64) -> Int {
        var r = rng.nextUnitInterval()
        for (c, w) in zip(candidates, weights) {
            r -= w
            if r <= 0 { return c }
        }
        return candidates.last!
    }
}
