// How well a classifier does on labeled examples: the confusion matrix, and from it
// accuracy, per-class precision / recall / F1 and their unweighted mean over every class
// the classifier knows, macro-F1 (scikit-learn's f1_score(average="macro", labels=all
// classes): a ratio with a zero denominator counts as 0).
import Foundation

public struct ClassificationMetrics: Equatable, Sendable {
    public let labels: [String]
    /// confusion[actual][predicted]: how many examples of class `actual` were predicted as `predicted`.
    public private(set) var confusion: [[Int]]

    public init(labels: [String]) {
        self.labels = labels
        confusion = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
    }

    public init(labels: [String], actual: [Int], predicted: [Int]) {
        self.init(labels: labels)
        for (a, p) in zip(actual, predicted) { record(actual: a, predicted: p) }
    }

    public mutating func record(actual: Int, predicted: Int) { confusion[actual][predicted] += 1 }

    public var count: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }

    public var accuracy: Double {
        let correct = labels.indices.reduce(0) { $0 + confusion[$1][$1] }
        return count == 0 ? 0 : Double(correct) / Double(count)
    }

    public func precision(_ k: Int) -> Double {
        let predicted = labels.indices.reduce(0) { $0 + confusion[$1][k] }
        return predicted == 0 ? 0 : Double(confusion[k][k]) / Double(predicted)
    }

    public func recall(_ k: Int) -> Double {
        let actual = confusion[k].reduce(0, +)
        return actual == 0 ? 0 : Double(confusion[k][k]) / Double(actual)
    }

    public func f1(_ k: Int) -> Double {
        let p = precision(k), r = recall(k)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    public var macroF1: Double {
        labels.isEmpty ? 0 : labels.indices.map(f1).reduce(0, +) / Double(labels.count)
    }

    /// The confusion matrix as aligned text: one row per actual class, one column per prediction.
    public var table: String {
        let corner = "actual \\ predicted"
        let width = max(8, labels.map(\.count).max() ?? 0, String(count).count) + 2
        let first = max(width, corner.count + 2)
        func cell(_ s: String, _ w: Int = width) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        var lines = [cell(corner, first) + labels.map { cell($0) }.joined()]
        for (k, row) in confusion.enumerated() {
            lines.append(cell(labels[k], first) + row.map { cell("\($0)") }.joined()
                         + String(format: "   recall %.3f  precision %.3f  F1 %.3f", recall(k), precision(k), f1(k)))
        }
        return lines.joined(separator: "\n")
    }
}
