// Held-out loss of a model on a token sequence: the sequence is cut into windows
// of n_positions + 1 tokens that overlap by one, so every token after the first
// is predicted exactly once, with as much context as its window gives it.
import Foundation
import GPTCore

public struct EvaluationResult: Sendable, Equatable {
    /// Mean cross-entropy per predicted token, in nats.
    public let loss: Double
    public let tokens: Int
    public var perplexity: Double { exp(loss) }
}

public enum Evaluation {
    /// `fill(range, destination)` copies tokens `range` of a sequence of `count` tokens.
    /// `progress(done, total)` is told the tokens scored so far.
    public static func meanLoss(model: GPT, count: Int, batch: Int = 8,
                                fill: (Range<Int>, UnsafeMutablePointer<Int32>) -> Void,
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        guard count >= 2 else { throw TrainingError.corpusTooShort(split: "evaluation", tokens: count, needed: 2) }
        let context = model.config.contextLength
        let windows = stride(from: 0, to: count - 1, by: context).map { $0..<min(count, $0 + context + 1) }
        model.isTraining = false
        var total = 0.0, scored = 0
        var i = 0
        while i < windows.count {
            // Full windows go in batches; the last, shorter one on its own.
            let length = windows[i].count - 1
            var group = [windows[i]]
            while group.count < batch, i + group.count < windows.count, windows[i + group.count].count - 1 == length {
                group.append(windows[i + group.count])
            }
            var window = [Int32](repeating: 0, count: length + 1)
            var x: [Int32] = [], y: [Int32] = []
            for range in group {
                window.withUnsafeMutableBufferPointer { fill(range, $0.baseAddress!) }
                x += window[..<length]
                y += window[1...]
            }
            let loss = try model.forward(tokens: x, targets: y, batch: group.count, seq: length) ?? 0
            total += Double(loss) * Double(x.count)
            scored += x.count
            progress(scored, count - 1)
            i += group.count
        }
        return EvaluationResult(loss: total / Double(scored), tokens: scored)
    }
}
