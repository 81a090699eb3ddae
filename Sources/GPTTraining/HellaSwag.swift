// HellaSwag scoring as llm.c and nanoGPT do it: each ending, joined to the context by one
// space, is scored by the model's cross-entropy on the ending's tokens alone. `acc` picks
// the ending with the lowest summed loss, `acc_norm` the lowest mean loss per token.
// When context and ending exceed the model's window, the oldest context tokens go first
// (the scored ending is kept whole while it fits).
import Foundation
import GPTCore
import GPTData
import GPTTokenizer

public struct HellaSwagScore: Sendable, Equatable {
    public let contextIDs: [Int]
    public let endingIDs: [[Int]]
    /// Per ending: the summed and mean cross-entropy (nats) over its scored tokens, and their count.
    public let sumLosses: [Double]
    public let meanLosses: [Double]
    public let scoredTokens: [Int]
    public let label: Int
    /// argmin of sumLosses and of meanLosses (the first on a tie).
    public var prediction: Int { Self.argmin(sumLosses) }
    public var normalizedPrediction: Int { Self.argmin(meanLosses) }
    /// Whether some context (or ending) tokens fell outside the model's window.
    public let truncated: Bool

    static func argmin(_ values: [Double]) -> Int {
        values.indices.min { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }!
    }
}

public struct HellaSwagResult: Sendable, Equatable {
    public let examples: Int
    public let correct: Int
    public let correctNormalized: Int
    public let truncated: Int
    public var accuracy: Double { Double(correct) / Double(max(1, examples)) }
    public var normalizedAccuracy: Double { Double(correctNormalized) / Double(max(1, examples)) }
}

public enum HellaSwagError: Error, CustomStringConvertible {
    case nothingToScore(example: Int, ending: Int)
    public var description: String {
        switch self {
        case let .nothingToScore(example, ending):
            return "HellaSwag example \(example + 1): ending \(ending) has no token the model can score"
        }
    }
}

public enum HellaSwag {
    /// Scores every example; `progress(done, total)` after each.
    public static func evaluate(model: GPT, tokenizer: any Tokenizer, examples: [HellaSwagExample],
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> (HellaSwagResult, [HellaSwagScore]) {
        model.isTraining = false
        var scores: [HellaSwagScore] = []
        scores.reserveCapacity(examples.count)
        for (index, example) in examples.enumerated() {
            scores.append(try score(example, index: index, model: model, tokenizer: tokenizer))
            progress(index + 1, examples.count)
        }
        let result = HellaSwagResult(examples: scores.count,
                                     correct: scores.filter { $0.prediction == $0.label }.count,
                                     correctNormalized: scores.filter { $0.normalizedPrediction == $0.label }.count,
                                     truncated: scores.filter(\.truncated).count)
        return (result, scores)
    }

    /// One example: its endings run as one batch, padded at the end (the causal mask keeps the
    /// padding out of every scored position).
    public static func score(_ example: HellaSwagExample, index: Int = 0, model: GPT,
                             tokenizer: any Tokenizer) throws -> HellaSwagScore {
        var context = try tokenizer.encode(example.context)
        // With no context the first ending token has nothing to be predicted from: start from
        // the end-of-text token where the vocabulary has one, as a document would.
        if context.isEmpty, let eot = tokenizer.endOfTextID { context = [eot] }
        let endings = try example.endings.map { try tokenizer.encode(" " + $0) }
        let window = model.config.contextLength + 1
        var rows: [[Int]] = [], scored: [Int] = [], truncated = false
        for (k, ending) in endings.enumerated() {
            var row = context + ending
            if row.count > window { row.removeFirst(row.count - window); truncated = true }
            // Targets are row[1...]; the ending is the tail of the row.
            let count = min(ending.count, row.count - 1)
            guard count > 0 else { throw HellaSwagError.nothingToScore(example: index, ending: k) }
            rows.append(row)
            scored.append(count)
        }
        let seq = rows.map { $0.count - 1 }.max()!, batch = rows.count, v = model.config.vocabSize
        var tokens = [Int32](repeating: 0, count: batch * seq)
        for (b, row) in rows.enumerated() {
            for t in 0..<(row.count - 1) { tokens[b * seq + t] = Int32(row[t]) }
        }
        try model.forward(tokens: tokens, targets: nil, batch: batch, seq: seq)
        let logits = model.logits
        var sums: [Double] = [], means: [Double] = []
        for (b, row) in rows.enumerated() {
            var total = 0.0
            for t in (row.count - 1 - scored[b])..<(row.count - 1) {
                let target = row[t + 1]
                let at = (b * seq + t) * v
                var peak = -Double.infinity
                for j in 0..<v { peak = max(peak, Double(logits[at + j])) }
                var sum = 0.0
                for j in 0..<v { sum += exp(Double(logits[at + j]) - peak) }
                total += peak + log(sum) - Double(logits[at + target])
            }
            sums.append(total)
            means.append(total / Double(scored[b]))
        }
        return HellaSwagScore(contextIDs: context, endingIDs: endings, sumLosses: sums, meanLosses: means,
                              scoredTokens: scored, label: example.label, truncated: truncated)
    }
}
