// Corpus BLEU (Papineni et al., 2002) exactly as sacreBLEU 2.x computes it with its defaults
// (sacrebleu/metrics/bleu.py: `BLEU().corpus_score(hyps, [refs])`): 13a tokenisation of the
// right-stripped, case-kept segments, n-grams of order 1…4 clipped by the reference counts and
// summed over the corpus, the exponential brevity penalty on the summed lengths, and the
// 'exp' smoothing (mteval-v13a's: the k-th order with no match gets precision 1/(2^k · total)).
// One reference per segment.
import Foundation

/// The sufficient statistics of BLEU for a segment or, summed, for a corpus.
public struct BLEUStatistics: Equatable, Sendable {
    public var hypothesisLength = 0
    public var referenceLength = 0
    /// Clipped n-gram matches, order 1…4.
    public var correct = [Int](repeating: 0, count: BLEU.maxOrder)
    /// Hypothesis n-grams, order 1…4.
    public var total = [Int](repeating: 0, count: BLEU.maxOrder)

    public init() {}

    public static func + (a: BLEUStatistics, b: BLEUStatistics) -> BLEUStatistics {
        var s = a
        s.hypothesisLength += b.hypothesisLength
        s.referenceLength += b.referenceLength
        for n in 0..<BLEU.maxOrder { s.correct[n] += b.correct[n]; s.total[n] += b.total[n] }
        return s
    }
}

/// A BLEU score with its parts, named as sacreBLEU's `BLEUScore` names them.
public struct BLEUScore: Equatable, Sendable, CustomStringConvertible {
    /// 0…100.
    public var score: Double
    /// Clipped matches per order (sacreBLEU's `counts`).
    public var counts: [Int]
    /// Hypothesis n-grams per order (`totals`).
    public var totals: [Int]
    /// Smoothed precisions in percent per order (`precisions`).
    public var precisions: [Double]
    /// `bp`.
    public var brevityPenalty: Double
    /// `sys_len`: tokens in all hypotheses.
    public var systemLength: Int
    /// `ref_len`: tokens in all references.
    public var referenceLength: Int

    /// sacreBLEU's `str(score)`: "BLEU = 59.46 75.0/66.7/50.0/50.0 (BP = 1.000 ratio = 1.000 hyp_len = 4 ref_len = 4)".
    public var description: String {
        let ratio = referenceLength > 0 ? Double(systemLength) / Double(referenceLength) : 0
        return String(format: "BLEU = %.2f ", score) + precisions.map { String(format: "%.1f", $0) }.joined(separator: "/")
            + String(format: " (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)", brevityPenalty, ratio, systemLength, referenceLength)
    }
}

public enum BLEU {
    public static let maxOrder = 4

    /// sacreBLEU's `corpus_bleu(hypotheses, [references])` with the default options.
    public static func corpusScore(hypotheses: [String], references: [String]) throws -> BLEUScore {
        try TranslationMetricError.check(hypotheses: hypotheses.count, references: references.count)
        var sum = BLEUStatistics()
        for (h, r) in zip(hypotheses, references) { sum = sum + statistics(hypothesis: h, reference: r) }
        return score(sum)
    }

    /// One segment's statistics: both sides right-stripped and 13a-tokenised.
    public static func statistics(hypothesis: String, reference: String) -> BLEUStatistics {
        let hyp = words(hypothesis), ref = words(reference)
        var s = BLEUStatistics()
        s.hypothesisLength = hyp.count
        s.referenceLength = ref.count
        let hypCounts = ngramCounts(hyp), refCounts = ngramCounts(ref)
        for (ngram, count) in hypCounts {
            s.total[ngram.count - 1] += count
            if let r = refCounts[ngram] { s.correct[ngram.count - 1] += min(count, r) }
        }
        return s
    }

    /// The score from (summed) statistics: sacreBLEU's `compute_bleu` with smooth_method 'exp'.
    /// The arithmetic follows it operation for operation, so the two agree to the last bits.
    public static func score(_ s: BLEUStatistics) -> BLEUScore {
        var bp = 1.0
        if s.hypothesisLength < s.referenceLength {
            bp = s.hypothesisLength > 0 ? exp(1 - Double(s.referenceLength) / Double(s.hypothesisLength)) : 0
        }
        var precisions = [Double](repeating: 0, count: maxOrder)
        var result = BLEUScore(score: 0, counts: s.correct, totals: s.total, precisions: precisions, brevityPenalty: bp,
                               systemLength: s.hypothesisLength, referenceLength: s.referenceLength)
        guard s.correct.contains(where: { $0 != 0 }) else { return result }
        var smooth = 1.0
        for n in 0..<maxOrder {
            if s.total[n] == 0 { break }
            if s.correct[n] == 0 {
                smooth *= 2
                precisions[n] = 100 / (smooth * Double(s.total[n]))
            } else {
                precisions[n] = 100 * Double(s.correct[n]) / Double(s.total[n])
            }
        }
        // sacreBLEU's my_log: log(0) is floored to -9999999999 (an order with no n-grams at all).
        var logSum = 0.0
        for p in precisions { logSum += p == 0 ? -9_999_999_999 : log(p) }
        result.precisions = precisions
        result.score = bp * exp(logSum / Double(maxOrder))
        return result
    }

    /// The 13a tokens of a right-stripped segment, as scalars: Swift's String equality would
    /// join canonically equivalent spellings ("é" and "e" + U+0301) that Python keeps apart.
    public static func words(_ segment: String) -> [[Unicode.Scalar]] {
        PythonWhitespace.split(Tokenizer13a.tokenize(PythonWhitespace.trimmingTrailing(segment)).unicodeScalars).map(Array.init)
    }

    /// Counts of every n-gram of order 1…4.
    static func ngramCounts(_ tokens: [[Unicode.Scalar]]) -> [ArraySlice<[Unicode.Scalar]>: Int] {
        var counts: [ArraySlice<[Unicode.Scalar]>: Int] = [:]
        for n in 1...maxOrder where n <= tokens.count {
            for i in 0...(tokens.count - n) { counts[tokens[i..<(i + n)], default: 0] += 1 }
        }
        return counts
    }
}
