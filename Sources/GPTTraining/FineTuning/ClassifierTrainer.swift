// Supervised fine-tuning of a GPT with a classification head (GPT-1, section 3.2): every
// parameter is trained on L_classification + λ·L_LM with AdamW, a warmup + cosine
// learning-rate schedule and gradient clipping over the model and head together.
// Batches are drawn in a seeded shuffled order and grouped by length (shuffle, sort
// within pools of 50 batches, shuffle the batches) so that little compute goes to padding.
import Foundation
import GPTCore
import GPTIO
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
    /// PyTorch's AdamW defaults (GPT-1 fine-tuned with Adam's usual settings).
    public var optimizer = AdamWHyperparameters.pytorch

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
    /// One optimizer over the model's layout, the head's tensors included.
    let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var stepsDone = 0
    /// The summed loss of the current epoch's steps so far (saved, so a resumed epoch reports the same mean).
    var epochLossSum: Double = 0
    /// The current epoch's batches, drawn once per epoch.
    private var epochBatches: (epoch: Int, batches: [[Int]])?

    public init(classifier: SequenceClassifier, train: ClassificationInputs, padding: Int32,
                options: ClassifierTrainingOptions) throws {
        guard train.count > 0 else { throw ClassificationDataError.noExamples }
        self.classifier = classifier
        self.train = train
        self.padding = padding
        self.options = options
        optimizer = AdamW(layout: classifier.model.layout, hyper: options.optimizer)
        let total = options.epochs * Self.batchCount(train.count, options.batchSize)
        schedule = LearningRateSchedule(maxRate: options.learningRate, minRate: options.minLearningRate,
                                        warmupSteps: max(1, Int((Double(total) * options.warmupFraction).rounded())),
                                        decaySteps: total)
        classifier.model.dropoutSeed = options.seed
    }

    public var stepsPerEpoch: Int { Self.batchCount(train.count, options.batchSize) }
    public var totalSteps: Int { options.epochs * stepsPerEpoch }
    /// Epochs finished; after a resume in the middle of one, the next `runEpoch` finishes it.
    public var completedEpochs: Int { stepsDone / stepsPerEpoch }

    static func batchCount(_ examples: Int, _ batch: Int) -> Int { (examples + batch - 1) / batch }

    /// One pass over the training examples (the rest of it, after a resume inside the epoch);
    /// returns the epoch's mean total loss.
    @discardableResult
    public func runEpoch(_ epoch: Int, report: (ClassifierStepReport) throws -> Void = { _ in }) throws -> Float {
        precondition(epoch == stepsDone / stepsPerEpoch + 1, "epoch \(epoch) does not follow the \(stepsDone) steps done")
        repeat {
            try report(try step())
        } while stepsDone % stepsPerEpoch != 0
        return epochMeanLoss
    }

    /// The mean total loss of the current epoch's steps so far (of the last epoch, at its end).
    public var epochMeanLoss: Float {
        let taken = stepsDone % stepsPerEpoch == 0 && stepsDone > 0 ? stepsPerEpoch : stepsDone % stepsPerEpoch
        return Float(epochLossSum / Double(max(1, taken)))
    }

    /// The epoch the next step belongs to (1-based).
    public var currentEpoch: Int { stepsDone / stepsPerEpoch + 1 }

    /// Takes step `stepsDone`: the next batch of its epoch's length-grouped order.
    public func step() throws -> ClassifierStepReport {
        let epoch = currentEpoch, taken = stepsDone % stepsPerEpoch
        if epochBatches?.epoch != epoch {
            epochBatches = (epoch, Self.lengthGroupedBatches(lengths: train.sequences.map(\.count), batchSize: options.batchSize,
                                                             seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        }
        if taken == 0 { epochLossSum = 0 }
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = schedule.rate(at: stepsDone)
        let loss = try step(epochBatches!.batches[taken], learningRate: lr)
        epochLossSum += Double(loss.total)
        stepsDone += 1
        return ClassifierStepReport(epoch: epoch, step: stepsDone, totalSteps: totalSteps, loss: loss, learningRate: lr,
                                    milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
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
        optimizer.update(model, learningRate: learningRate, maxGradientNorm: options.gradientClip > 0 ? options.gradientClip : nil)
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

/// What, besides weights and moments, a resumed fine-tuning run must restore.
public struct ClassifierTrainingState: Codable, Equatable, Sendable {
    public var stepsDone: Int
    public var epochLossSum: Double
    public var passCount: UInt64
    public var optimizerStep: Int
    /// FNV-1a of the encoded training inputs and labels, so a resume on other data is refused.
    public var dataFingerprint: UInt64
    /// The options that shape the run (epochs, batch size, rates, λ, seed …), as text.
    public var options: [String: String]

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", epochLossSum = "epoch_loss_sum", passCount = "pass_count"
        case optimizerStep = "optimizer_step"
        case dataFingerprint = "data_fingerprint", options
    }
}

public enum ClassifierResumeError: Error, CustomStringConvertible, Equatable {
    case option(name: String, checkpoint: String, run: String)
    case data
    case labels(checkpoint: [String], run: [String])

    public var description: String {
        switch self {
        case let .option(name, checkpoint, run):
            return "cannot resume: the checkpoint was trained with \(name) \(checkpoint) but this run has \(run)"
        case .data: return "cannot resume: the training examples differ from the checkpoint's (their fingerprint does not match)"
        case let .labels(checkpoint, run):
            return "cannot resume: the checkpoint's labels are \(checkpoint) but this run's are \(run)"
        }
    }
}

extension ClassifierTrainingOptions {
    /// The fields a resume must match, by their command-line names.
    var fingerprint: [String: String] {
        ["epochs": "\(epochs)", "batch-size": "\(batchSize)", "learning-rate": "\(learningRate)",
         "min-learning-rate": "\(minLearningRate)", "warmup-fraction": "\(warmupFraction)", "grad-clip": "\(gradientClip)",
         "aux-lm-weight": "\(languageModelWeight)", "seed": "\(seed)", "weight-decay": "\(optimizer.weightDecay)",
         "adam-betas": "\(optimizer.beta1),\(optimizer.beta2)", "adam-eps": "\(optimizer.eps)"]
    }
}

extension ClassifierTrainer {
    /// The state a checkpoint records.
    public func state() -> ClassifierTrainingState {
        ClassifierTrainingState(stepsDone: stepsDone, epochLossSum: epochLossSum, passCount: classifier.model.passCount,
                                optimizerStep: optimizer.step,
                                dataFingerprint: dataFingerprint, options: options.fingerprint)
    }

    /// Takes up `state` after checking that it belongs to this run's data and options.
    public func restore(_ state: ClassifierTrainingState) throws {
        for (name, value) in options.fingerprint.sorted(by: { $0.key < $1.key }) where state.options[name] != value {
            throw ClassifierResumeError.option(name: "--" + name, checkpoint: state.options[name] ?? "nothing", run: value)
        }
        guard state.dataFingerprint == dataFingerprint else { throw ClassifierResumeError.data }
        guard (0...totalSteps).contains(state.stepsDone), state.epochLossSum.isFinite,
              state.optimizerStep >= 0 else {
            throw ClassifierResumeError.option(name: "steps done", checkpoint: "\(state.stepsDone)", run: "0...\(totalSteps)")
        }
        stepsDone = state.stepsDone
        epochLossSum = state.epochLossSum
        classifier.model.passCount = state.passCount
        optimizer.step = state.optimizerStep
    }

    /// The optimizer's moments under the layout's tensor names (the head's are `score.*`).
    func addMoments(to file: inout SafeTensorsWriter) {
        optimizer.addMoments(of: classifier.model.layout.tensors, to: &file)
    }

    func loadMoments(from file: SafeTensorsFile) throws {
        try optimizer.loadMoments(of: classifier.model.layout.tensors, from: file)
    }

    /// FNV-1a over every training input's tokens, its length and its label.
    var dataFingerprint: UInt64 {
        var hash = FNV1a()
        for (sequence, label) in zip(train.sequences, train.labels) {
            hash.mix(UInt64(sequence.count))
            for t in sequence { hash.mix(UInt64(UInt32(bitPattern: t))) }
            hash.mix(UInt64(label))
        }
        return hash.value
    }
}
