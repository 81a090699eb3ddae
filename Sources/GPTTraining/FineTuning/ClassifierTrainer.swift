// Supervised fine-tuning of a GPT with a classification head (GPT-1, section 3.2): every
// parameter is trained on L_classification + λ·L_LM with AdamW, a warmup + cosine
// learning-rate schedule and gradient clipping over the model and head together.
// Batches are drawn in a seeded shuffled order and grouped by length (shuffle, sort
// within pools of 50 batches, shuffle the batches) so that little compute goes to padding.
import Foundation
import GPTCore
import GPTKernels

public struct ClassifierTrainingOptions: Sendable {
    public var epochs = 3
    public var batchSize = 32
    public var learningRate: Float = 1e-4
    public var minLearningRate: Float = 0
    /// Fraction of all steps spent warming the rate up linearly.
    public var warmupFraction = 0.05
    public var gradientClip: Float = 1
    /// λ: the weight of the language-model loss on the same inputs (GPT-1 uses 0.5; 0 disables it).
    public var languageModelWeight: Float = 0.5
    public var seed: UInt64 = 1337
    public var optimizer = AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)

    public init() {}
}

public struct ClassifierStepReport: Sendable {
    public let epoch: Int
    public let step: Int
    public let totalSteps: Int
    public let loss: ClassifierLoss
    public let learningRate: Float
    public let milliseconds: Double
}

public struct ClassifierEvaluation: Sendable {
    public let metrics: ClassificationMetrics
    public let meanLoss: Float
}

public final class ClassifierTrainer {
    public let classifier: SequenceClassifier
    public let options: ClassifierTrainingOptions
    let train: ClassificationInputs
    let padding: Int32
    let modelOptimizer: AdamW
    let headOptimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var stepsDone = 0

    public init(classifier: SequenceClassifier, train: ClassificationInputs, padding: Int32,
                options: ClassifierTrainingOptions) throws {
        guard train.count > 0 else { throw ClassificationDataError.noExamples }
        self.classifier = classifier
        self.train = train
        self.padding = padding
        self.options = options
        modelOptimizer = AdamW(layout: classifier.model.layout, hyper: options.optimizer)
        headOptimizer = AdamW(count: classifier.head.count, hyper: options.optimizer)
        let total = options.epochs * Self.batchCount(train.count, options.batchSize)
        schedule = LearningRateSchedule(maxRate: options.learningRate, minRate: options.minLearningRate,
                                        warmupSteps: max(1, Int((Double(total) * options.warmupFraction).rounded())),
                                        decaySteps: total)
        classifier.model.dropoutSeed = options.seed
    }

    public var stepsPerEpoch: Int { Self.batchCount(train.count, options.batchSize) }
    public var totalSteps: Int { options.epochs * stepsPerEpoch }

    static func batchCount(_ examples: Int, _ batch: Int) -> Int { (examples + batch - 1) / batch }

    /// One pass over the training examples; returns the mean total loss.
    @discardableResult
    public func runEpoch(_ epoch: Int, report: (ClassifierStepReport) throws -> Void = { _ in }) throws -> Float {
        var total: Double = 0
        let batches = Self.lengthGroupedBatches(lengths: train.sequences.map(\.count), batchSize: options.batchSize,
                                                seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        for indices in batches {
            let start = DispatchTime.now().uptimeNanoseconds
            let lr = schedule.rate(at: stepsDone)
            let loss = try step(indices, learningRate: lr)
            total += Double(loss.total)
            stepsDone += 1
            try report(ClassifierStepReport(epoch: epoch, step: stepsDone, totalSteps: totalSteps, loss: loss, learningRate: lr,
                                            milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
        }
        return Float(total / Double(max(1, batches.count)))
    }

    func step(_ indices: [Int], learningRate: Float) throws -> ClassifierLoss {
        let model = classifier.model
        model.isTraining = true
        defer { model.isTraining = false }
        classifier.zeroGradients()
        let batch = try PaddedBatch(sequences: indices.map { train.sequences[$0] }, padding: padding)
        guard let loss = try classifier.forward(batch, labels: indices.map { train.labels[$0] },
                                                languageModelWeight: options.languageModelWeight),
              loss.total.isFinite
        else { throw TrainingError.nonFiniteLoss(step: stepsDone) }
        try classifier.backward()
        let norm = classifier.gradientNorm()
        let scale = options.gradientClip > 0 ? AdamW.clippingScale(norm: norm, maxNorm: options.gradientClip) : 1
        modelOptimizer.update(parameters: model.parameters, gradients: model.gradients!, tensors: model.layout.tensors,
                              learningRate: learningRate, gradientScale: scale, pool: model.pool)
        headOptimizer.update(parameters: classifier.head.parameters, gradients: classifier.head.gradients,
                             tensors: classifier.head.tensors, learningRate: learningRate, gradientScale: scale, pool: model.pool)
        return loss
    }

    /// Shuffles the examples, sorts each pool of 50 batches by length, cuts the pools into
    /// batches and shuffles the batches: random batches of similar lengths.
    public static func lengthGroupedBatches(lengths: [Int], batchSize: Int, seed: UInt64) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        var order = Array(lengths.indices)
        rng.shuffle(&order)
        var batches: [[Int]] = []
        let pool = 50 * batchSize
        for poolStart in stride(from: 0, to: order.count, by: pool) {
            // `sorted` is stable (documented since SE-0372), so equal lengths keep their shuffled order.
            let sorted = order[poolStart..<min(order.count, poolStart + pool)].sorted { lengths[$0] < lengths[$1] }
            for batchStart in stride(from: 0, to: sorted.count, by: batchSize) {
                batches.append(Array(sorted[batchStart..<min(sorted.count, batchStart + batchSize)]))
            }
        }
        rng.shuffle(&batches)
        return batches
    }
}
