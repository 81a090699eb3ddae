// The loss a chat model is judged by: cross-entropy on assistant tokens only (the same
// mask as training), summed over every held-out conversation and divided by their count
// of assistant tokens, so long and short batches weigh by tokens; perplexity is its exp.
// Batches are taken in length order (no shuffling: the result does not depend on it).
import Foundation
import GPTCore

public struct ChatLoss: Sendable {
    public var loss: Double
    public var tokens: Int
    public var perplexity: Double { exp(loss) }
}

extension ChatExamples {
    /// The mean assistant-token loss of `model` on these conversations.
    public func evaluate(_ model: GPT, padding: Int32, batchSize: Int = 16) throws -> ChatLoss {
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        let order = sequences.indices.sorted { sequences[$0].count < sequences[$1].count }
        var total = 0.0, tokens = 0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let b = batch(Array(order[start..<min(order.count, start + batchSize)]), padding: padding)
            let count = b.targets.filter { $0 >= 0 }.count
            guard count > 0 else { continue }
            let mean = try model.forward(tokens: b.tokens, targets: b.targets, batch: b.batch, seq: b.seq) ?? .nan
            total += Double(mean) * Double(count)
            tokens += count
        }
        return ChatLoss(loss: tokens > 0 ? total / Double(tokens) : .nan, tokens: tokens)
    }
}
