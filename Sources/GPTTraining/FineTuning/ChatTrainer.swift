// Chat fine-tuning (`gpt finetune chat`): every parameter is trained on the cross-entropy
// of assistant tokens only (ChatExamples' mask), the mean over the batch's assistant
// tokens, with AdamW, a warmup + cosine schedule and gradient clipping. Batches are
// length-grouped per epoch (ClassifierTrainer.lengthGroupedBatches, seeded by the epoch), so
// step s's batch follows from the seed and s alone and a resume needs no generator state.
import Foundation
import GPTCore
import GPTIO
import GPTKernels

public struct ChatTrainingOptions: Sendable {
    public var steps = 500
    public var batchSize = 16
    public var learningRate: Float = 1e-4
    public var minLearningRate: Float = 1e-5
    public var warmupSteps = 20
    public var gradientClip: Float = 1
    public var evalEvery = 100
    public var seed: UInt64 = 1337
    public var optimizer = AdamWHyperparameters.pytorch

    public init() {}

    /// The fields a resume must match, by their command-line names.
    var fingerprint: [String: String] {
        ["steps": "\(steps)", "batch-size": "\(batchSize)", "learning-rate": "\(learningRate)",
         "min-learning-rate": "\(minLearningRate)", "warmup-steps": "\(warmupSteps)", "grad-clip": "\(gradientClip)",
         "seed": "\(seed)", "weight-decay": "\(optimizer.weightDecay)", "adam-betas": "\(optimizer.beta1),\(optimizer.beta2)",
         "adam-eps": "\(optimizer.eps)"]
    }
}

public final class ChatTrainer {
    public let model: GPT
    public let options: ChatTrainingOptions
    public let train: ChatExamples
    let padding: Int32
    let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var stepsDone = 0
    private var epochBatches: (epoch: Int, batches: [[Int]])?

    public init(model: GPT, train: ChatExamples, padding: Int32, options: ChatTrainingOptions) throws {
        guard train.count > 0 else { throw ChatTrainingError.noConversations }
        self.model = model; self.train = train; self.padding = padding; self.options = options
        optimizer = AdamW(layout: model.layout, hyper: options.optimizer)
        schedule = LearningRateSchedule(maxRate: options.learningRate, minRate: options.minLearningRate,
                                        warmupSteps: options.warmupSteps, decaySteps: options.steps)
        model.dropoutSeed = options.seed
    }

    public var stepsPerEpoch: Int { (train.count + options.batchSize - 1) / options.batchSize }
    /// The epoch step `stepsDone` belongs to (1-based).
    public var currentEpoch: Int { stepsDone / stepsPerEpoch + 1 }

    /// Takes step `stepsDone`; returns its loss (mean over the batch's assistant tokens), rate, tokens and time.
    public func step() throws -> (loss: Float, learningRate: Float, tokens: Int, targets: Int, milliseconds: Double) {
        let epoch = currentEpoch
        if epochBatches?.epoch != epoch {
            epochBatches = (epoch, ClassifierTrainer.lengthGroupedBatches(
                lengths: train.sequences.map(\.count), batchSize: options.batchSize,
                seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = schedule.rate(at: stepsDone)
        let b = train.batch(epochBatches!.batches[stepsDone % stepsPerEpoch], padding: padding)
        model.isTraining = true
        defer { model.isTraining = false }
        model.zeroGradients()
        guard let loss = try model.forward(tokens: b.tokens, targets: b.targets, batch: b.batch, seq: b.seq), loss.isFinite else {
            throw TrainingError.nonFiniteLoss(step: stepsDone)
        }
        try model.backward()
        optimizer.update(model, learningRate: lr, maxGradientNorm: options.gradientClip > 0 ? options.gradientClip : nil)
        stepsDone += 1
        return (loss, lr, b.batch * b.seq, b.targets.filter { $0 >= 0 }.count,
                Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }

    /// Whether an evaluation follows step `step` (0-based): every `evalEvery` steps and the last.
    public func evaluationDue(after step: Int) -> Bool {
        options.evalEvery > 0 && ((step + 1) % options.evalEvery == 0 || step == options.steps - 1)
    }
}

public enum ChatTrainingError: Error, CustomStringConvertible, Equatable {
    case noConversations
    case option(name: String, checkpoint: String, run: String)
    case data
    case template(checkpoint: String, run: String)

    public var description: String {
        switch self {
        case .noConversations: return "no training conversation has an assistant token within the context"
        case let .option(name, checkpoint, run):
            return "cannot resume: the checkpoint was trained with \(name) \(checkpoint) but this run has \(run)"
        case .data: return "cannot resume: the training conversations differ from the checkpoint's (their fingerprint does not match)"
        case let .template(checkpoint, run):
            return "cannot resume: the checkpoint's chat template is \(checkpoint) but this run's is \(run)"
        }
    }
}

/// What, besides weights and moments, a resumed chat fine-tune restores.
public struct ChatTrainingState: Codable, Equatable, Sendable {
    public var stepsDone: Int
    public var optimizerStep: Int
    public var passCount: UInt64
    public var dataFingerprint: UInt64
    public var options: [String: String]

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", optimizerStep = "optimizer_step", passCount = "pass_count"
        case dataFingerprint = "data_fingerprint", options
    }
}

extension ChatTrainer {
    public func state() -> ChatTrainingState {
        ChatTrainingState(stepsDone: stepsDone, optimizerStep: optimizer.step, passCount: model.passCount,
                          dataFingerprint: dataFingerprint, options: options.fingerprint)
    }

    func restore(_ state: ChatTrainingState) throws {
        for (name, value) in options.fingerprint.sorted(by: { $0.key < $1.key }) where state.options[name] != value {
            throw ChatTrainingError.option(name: "--" + name, checkpoint: state.options[name] ?? "nothing", run: value)
        }
        guard state.dataFingerprint == dataFingerprint else { throw ChatTrainingError.data }
        guard (0...options.steps).contains(state.stepsDone), state.optimizerStep >= 0 else {
            throw ChatTrainingError.option(name: "steps done", checkpoint: "\(state.stepsDone)", run: "0...\(options.steps)")
        }
        stepsDone = state.stepsDone
        optimizer.step = state.optimizerStep
        model.passCount = state.passCount
        epochBatches = nil
    }

    /// FNV-1a over every training sequence's ids and target mask.
    var dataFingerprint: UInt64 {
        var hash = FNV1a()
        for (ids, mask) in zip(train.sequences, train.targets) {
            hash.mix(UInt64(ids.count))
            for (t, target) in zip(ids, mask) { hash.mix(UInt64(UInt32(bitPattern: t)) << 1 | (target ? 1 : 0)) }
        }
        return hash.value
    }
}
