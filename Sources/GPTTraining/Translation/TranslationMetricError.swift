// Bad input to BLEU or chrF: the one-line errors of the corpus metrics.
import Foundation

/// Bad input to a corpus metric.
public enum TranslationMetricError: Error, Equatable, CustomStringConvertible {
    case countMismatch(hypotheses: Int, references: Int)
    case emptyCorpus

    static func check(hypotheses: Int, references: Int) throws {
        guard hypotheses == references else { throw countMismatch(hypotheses: hypotheses, references: references) }
        guard hypotheses > 0 else { throw emptyCorpus }
    }

    public var description: String {
        switch self {
        case let .countMismatch(h, r): return "\(h) hypotheses but \(r) references: a corpus metric needs one reference per hypothesis"
        case .emptyCorpus: return "the corpus is empty: a corpus metric needs at least one hypothesis and reference"
        }
    }
}
