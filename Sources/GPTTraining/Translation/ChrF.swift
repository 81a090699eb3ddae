// Corpus chrF (Popović, 2015) exactly as sacreBLEU 2.x computes it with its defaults
// (sacrebleu/metrics/chrf.py: `CHRF().corpus_score(hyps, [refs])`): character n-grams of
// order 1…6 over the segment with all whitespace removed (Python's `str.split()` set), no
// word n-grams, β = 2, case kept, statistics summed over the corpus, then the F-β of the
// precision and recall averaged over the orders that have n-grams on both sides.
// One reference per segment; characters are Unicode scalars, as Python's `str` indexes them.
import Foundation

/// chrF statistics per order: hypothesis n-grams, reference n-grams, matches.
public struct ChrFStatistics: Equatable, Sendable {
    public var hypothesis = [Int](repeating: 0, count: ChrF.charOrder)
    public var reference = [Int](repeating: 0, count: ChrF.charOrder)
    public var matches = [Int](repeating: 0, count: ChrF.charOrder)

    public init() {}

    public static func + (a: ChrFStatistics, b: ChrFStatistics) -> ChrFStatistics {
        var s = a
        for n in 0..<ChrF.charOrder {
            s.hypothesis[n] += b.hypothesis[n]; s.reference[n] += b.reference[n]; s.matches[n] += b.matches[n]
        }
        return s
    }
}

public enum ChrF {
    public static let charOrder = 6
    public static let beta = 2

    /// sacreBLEU's `corpus_chrf(hypotheses, [references])` with the default options: 0…100.
    public static func corpusScore(hypotheses: [String], references: [String]) throws -> Double {
        try TranslationMetricError.check(hypotheses: hypotheses.count, references: references.count)
        var sum = ChrFStatistics()
        for (h, r) in zip(hypotheses, references) { sum = sum + statistics(hypothesis: h, reference: r) }
        return score(sum)
    }

    /// One segment's statistics. As sacreBLEU's `_get_match_statistics`, a hypothesis n-gram
    /// count is 0 for an order at which the reference has no n-grams.
    public static func statistics(hypothesis: String, reference: String) -> ChrFStatistics {
        let hyp = characters(hypothesis), ref = characters(reference)
        var s = ChrFStatistics()
        for n in 1...charOrder {
            let h = ngramCounts(hyp, n), r = ngramCounts(ref, n)
            var hypCount = 0, matchCount = 0
            for (ngram, count) in h {
                hypCount += count
                if let rc = r[ngram] { matchCount += min(count, rc) }
            }
            s.hypothesis[n - 1] = r.isEmpty ? 0 : hypCount
            s.reference[n - 1] = max(0, ref.count - n + 1)
            s.matches[n - 1] = matchCount
        }
        return s
    }

    /// sacreBLEU's `_compute_f_score` without eps smoothing.
    public static func score(_ s: ChrFStatistics) -> Double {
        let factor = Double(beta * beta)
        var averagePrecision = 0.0, averageRecall = 0.0
        var effectiveOrder = 0
        for n in 0..<charOrder where s.hypothesis[n] > 0 && s.reference[n] > 0 {
            averagePrecision += Double(s.matches[n]) / Double(s.hypothesis[n])
            averageRecall += Double(s.matches[n]) / Double(s.reference[n])
            effectiveOrder += 1
        }
        if effectiveOrder == 0 {
            averagePrecision = 0; averageRecall = 0
        } else {
            averagePrecision /= Double(effectiveOrder); averageRecall /= Double(effectiveOrder)
        }
        guard averagePrecision + averageRecall != 0 else { return 0 }
        var f = (1 + factor) * averagePrecision * averageRecall
        f /= factor * averagePrecision + averageRecall
        return 100 * f
    }

    /// The segment's scalars without whitespace (`''.join(line.split())`).
    static func characters(_ segment: String) -> [Unicode.Scalar] {
        segment.unicodeScalars.filter { !PythonWhitespace.contains($0) }
    }

    static func ngramCounts(_ s: [Unicode.Scalar], _ n: Int) -> [ArraySlice<Unicode.Scalar>: Int] {
        var counts: [ArraySlice<Unicode.Scalar>: Int] = [:]
        guard s.count >= n else { return counts }
        for i in 0...(s.count - n) { counts[s[i..<(i + n)], default: 0] += 1 }
        return counts
    }
}
