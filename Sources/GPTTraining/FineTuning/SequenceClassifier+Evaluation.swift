// Using a classifier: class probabilities for encoded inputs, and how well they match labels.
import Foundation
import GPTCore

extension SequenceClassifier {
    /// Class probabilities for each input ([N][K]), in order, without dropout.
    public func predict(_ sequences: [[Int32]], padding: Int32, batchSize: Int = 32) throws -> [[Float]] {
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        // Running inputs in length order wastes little on padding; results go back to input order.
        let order = sequences.indices.sorted { sequences[$0].count < sequences[$1].count }
        var result = [[Float]](repeating: [], count: sequences.count)
        let k = classCount
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let indices = Array(order[start..<min(order.count, start + batchSize)])
            try forward(PaddedBatch(sequences: indices.map { sequences[$0] }, padding: padding), labels: nil)
            for (i, index) in indices.enumerated() { result[index] = Array(probabilities[i * k..<(i + 1) * k]) }
        }
        return result
    }

    /// Accuracy, macro-F1 and the confusion matrix on labeled inputs, and the mean classification loss.
    public func evaluate(_ inputs: ClassificationInputs, labels: [String], padding: Int32, batchSize: Int = 32) throws -> ClassifierEvaluation {
        let probabilities = try predict(inputs.sequences, padding: padding, batchSize: batchSize)
        var metrics = ClassificationMetrics(labels: labels)
        var loss = 0.0
        for (p, actual) in zip(probabilities, inputs.labels) {
            metrics.record(actual: actual, predicted: p.indices.max { p[$0] < p[$1] }!)
            loss -= log(max(Double(p[actual]), 1e-30))
        }
        return ClassifierEvaluation(metrics: metrics, meanLoss: Float(loss / Double(max(1, inputs.count))))
    }
}
