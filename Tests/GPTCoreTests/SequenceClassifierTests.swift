// The classification head and the fine-tuning objective L = L_cls + λ·L_LM: gradients
// against finite differences, the loss against a direct computation one sequence at a
// time, and padding that can never change what the head reads.
import Foundation
import XCTest
import GPTCore
import GPTKernels

final class SequenceClassifierTests: XCTestCase {
    static let config = GPTConfig(vocabSize: 11, contextLength: 8, embeddingSize: 16, layerCount: 2, headCount: 2)
    /// Three sequences of different lengths (the batch pads them to 7).
    static let sequences: [[Int32]] = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [2, 9]]
    static let labels = [2, 0, 1]

    func makeClassifier(_ config: GPTConfig = config, seed: UInt64 = 9) throws -> SequenceClassifier {
        let model = try GPT(config: config, classCount: 3, seed: seed, pool: try ThreadPool(threads: 2))
        let head = try XCTUnwrap(ClassificationHead(model))
        head.initialize(seed: seed + 1)
        // A larger head than the 0.02 initialisation, so its gradients are not vanishingly small.
        for i in 0..<head.count { head.parameters[i] *= 20 }
        return try SequenceClassifier(model: model)
    }

    func testHeadGradientsMatchFiniteDifferences() throws {
        // The head of a minimal model 5 wide; only its head is exercised.
        let host = try GPT(config: GPTConfig(vocabSize: 3, contextLength: 2, embeddingSize: 5, layerCount: 1, headCount: 1),
                           classCount: 3, pool: try ThreadPool(threads: 1))
        let head = try XCTUnwrap(ClassificationHead(host))
        var rng = SplitMix64(seed: 8)
        let batch = 4, labels = [0, 2, 1, 2]
        // A raw buffer: the differences perturb it while `loss` reads it.
        let features = UnsafeMutableBufferPointer<Float>.allocate(capacity: batch * 5)
        defer { features.deallocate() }
        for i in features.indices { features[i] = Float(rng.nextUnitInterval() * 2 - 1) }
        for i in 0..<head.count { head.parameters[i] = Float(rng.nextUnitInterval() * 2 - 1) }
        func loss() -> Double {
            var logits = [Float](repeating: 0, count: batch * 3), p = logits
            head.forward(logits: &logits, features: features.baseAddress!, batch: batch)
            return Double(ClassificationHead.softmaxCrossEntropy(probabilities: &p, logits: logits, batch: batch, classCount: 3,
                                                                 labels: labels)!)
        }
        var logits = [Float](repeating: 0, count: batch * 3), p = logits, dlogits = logits
        head.forward(logits: &logits, features: features.baseAddress!, batch: batch)
        ClassificationHead.softmaxCrossEntropy(probabilities: &p, logits: logits, batch: batch, classCount: 3, labels: labels)
        ClassificationHead.crossEntropyBackward(dlogits: &dlogits, probabilities: p, labels: labels, classCount: 3)
        var dfeatures = [Float](repeating: 0, count: batch * 5)
        head.zeroGradients()
        head.backward(dfeatures: &dfeatures, dlogits: dlogits, features: features.baseAddress!, batch: batch)

        func numeric(_ value: UnsafeMutablePointer<Float>) -> Double {
            let saved = value.pointee, h: Float = 1e-2
            value.pointee = saved + h; let up = loss()
            value.pointee = saved - h; let down = loss()
            value.pointee = saved
            return (up - down) / (2 * Double(h))
        }
        // Central differences in Float with h = 1e-2: the truncation error is below 1e-4 here.
        for i in 0..<head.count {
            XCTAssertEqual(Double(head.gradients[i]), numeric(head.parameters + i), accuracy: 2e-4, "parameter \(i)")
        }
        for i in 0..<features.count {
            XCTAssertEqual(Double(dfeatures[i]), numeric(features.baseAddress! + i), accuracy: 2e-4, "feature \(i)")
        }
    }

    /// The gradient of L_cls + λ·L_LM over every model and head parameter, projected on a random
    /// direction, against a Richardson-extrapolated central difference; with dropout, and with λ = 0.
    func testClassifierGradientMatchesDirectionalFiniteDifference() throws {
        for (lambda, dropout) in [(Float(0.5), Float(0)), (0, 0), (0.5, 0.2)] {
            var config = Self.config
            config.embeddingDropout = dropout; config.attentionDropout = dropout; config.residualDropout = dropout
            let classifier = try makeClassifier(config)
            let model = classifier.model, head = classifier.head
            model.isTraining = dropout > 0
            let batch = try PaddedBatch(sequences: Self.sequences, padding: 0)
            func loss() throws -> Double {
                if model.isTraining { model.passCount = 0 }  // the same dropout masks every time
                return Double(try XCTUnwrap(try classifier.forward(batch, labels: Self.labels, languageModelWeight: lambda)).total)
            }
            _ = try loss()
            classifier.zeroGradients()
            try classifier.backward()
            // The head's tensors close the model's layout: the first n values are the language model's.
            let m = head.count, n = model.layout.count - m
            XCTAssertEqual(head.parameters, model.parameters + n)
            var rng = SplitMix64(seed: 2)
            let direction = (0..<(n + m)).map { _ in Float(rng.nextUnitInterval() * 2 - 1) }
            var analytic = 0.0
            for i in 0..<n { analytic += Double(model.gradients![i]) * Double(direction[i]) }
            for i in 0..<m { analytic += Double(head.gradients[i]) * Double(direction[n + i]) }
            let savedModel = Array(UnsafeBufferPointer(start: model.parameters, count: n))
            let savedHead = Array(UnsafeBufferPointer(start: head.parameters, count: m))
            func centralDifference(_ h: Float) throws -> Double {
                func shift(_ s: Float) {
                    for i in 0..<n { model.parameters[i] = savedModel[i] + s * direction[i] }
                    for i in 0..<m { head.parameters[i] = savedHead[i] + s * direction[n + i] }
                }
                shift(h); let up = try loss()
                shift(-h); let down = try loss()
                shift(0)
                return (up - down) / (2 * Double(h))
            }
            let numeric = (4 * (try centralDifference(5e-4)) - (try centralDifference(1e-3))) / 3
            XCTAssertEqual(analytic, numeric, accuracy: 1e-3 * max(1, abs(numeric)), "λ \(lambda), dropout \(dropout)")
        }
    }

    /// The padded batch's loss equals the classification loss computed by hand from each sequence
    /// run alone (no padding at all), plus λ times the LM loss of the same tokens.
    func testCombinedLossEqualsDirectComputationPerSequence() throws {
        let classifier = try makeClassifier()
        let model = classifier.model, head = classifier.head, c = Self.config.embeddingSize
        let lambda: Float = 0.5
        let batch = try PaddedBatch(sequences: Self.sequences, padding: 0)
        let loss = try XCTUnwrap(try classifier.forward(batch, labels: Self.labels, languageModelWeight: lambda))

        var classification = 0.0, lmSum = 0.0, lmCount = 0
        for (sequence, label) in zip(Self.sequences, Self.labels) {
            let t = sequence.count
            var targets = [Int32](repeating: -1, count: t)
            for i in 0..<(t - 1) { targets[i] = sequence[i + 1] }
            if t > 1 {
                let lm = try XCTUnwrap(try model.forward(tokens: sequence, targets: targets, batch: 1, seq: t))
                lmSum += Double(lm) * Double(t - 1); lmCount += t - 1
            }
            let hidden = Array(model.hiddenStates[((t - 1) * c)..<(t * c)])
            let logits = (0..<3).map { k in
                (0..<c).reduce(Double(head.bias[k])) { $0 + Double(head.weight[k * c + $1]) * Double(hidden[$1]) }
            }
            let top = logits.max()!
            classification += top + log(logits.reduce(0) { $0 + exp($1 - top) }) - logits[label]
        }
        classification /= Double(Self.sequences.count)
        let lm = lmSum / Double(lmCount)
        XCTAssertEqual(Double(loss.classification), classification, accuracy: 1e-5 * classification)
        XCTAssertEqual(Double(loss.languageModel), lm, accuracy: 1e-5 * lm)
        XCTAssertEqual(Double(loss.total), classification + Double(lambda) * lm, accuracy: 1e-5 * (classification + lm))
    }

    /// Whatever fills the padding and however long the batch is, each sequence's probabilities are those it gets alone.
    func testPaddingNeverChangesTheProbabilities() throws {
        let classifier = try makeClassifier()
        var alone: [[Float]] = []
        for sequence in Self.sequences {
            try classifier.forward(PaddedBatch(sequences: [sequence], padding: 0), labels: nil)
            alone.append(classifier.probabilities)
        }
        for padding: Int32 in [0, 10] {
            try classifier.forward(PaddedBatch(sequences: Self.sequences, padding: padding), labels: nil)
            for (i, probabilities) in alone.enumerated() {
                for k in 0..<3 { XCTAssertEqual(classifier.probabilities[i * 3 + k], probabilities[k], accuracy: 1e-6) }
            }
        }
    }

    func testPaddedBatchTargetsStopAtEachSequenceEnd() throws {
        let batch = try PaddedBatch(sequences: [[5, 6, 7], [8]], padding: 1)
        XCTAssertEqual(batch.seq, 3)
        XCTAssertEqual(batch.tokens, [5, 6, 7, 8, 1, 1])
        XCTAssertEqual(batch.targets, [6, 7, -1, -1, -1, -1])
        XCTAssertEqual(batch.lastTokenRows, [2, 3])
        XCTAssertThrowsError(try PaddedBatch(sequences: [[1], []], padding: 0)) {
            XCTAssertEqual($0 as? PaddedBatchError, .emptySequence(index: 1))
        }
        XCTAssertThrowsError(try PaddedBatch(sequences: [], padding: 0)) { XCTAssertEqual($0 as? PaddedBatchError, .noSequences) }
    }

    func testOutOfRangeLabelsAreRefused() throws {
        let classifier = try makeClassifier()
        let batch = try PaddedBatch(sequences: [[1, 2]], padding: 0)
        XCTAssertThrowsError(try classifier.forward(batch, labels: [3])) {
            XCTAssertEqual($0 as? GPTError, .shapeMismatch(expected: 3, got: 3, what: "label index (classes)"))
        }
        XCTAssertThrowsError(try classifier.backward()) { XCTAssertEqual($0 as? GPTError, .backwardWithoutTargets) }
    }
}
