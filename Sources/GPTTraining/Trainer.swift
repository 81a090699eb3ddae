// The pre-training loop: random windows, forward, backward, gradient clipping,
// AdamW with a warmup + cosine schedule, and periodic evaluation on fixed batches
// of the training and validation splits.
import Foundation
import GPTCore
import GPTKernels

public struct TrainingOptions: Sendable {
    public var batchSize = 12
    public var steps = 2000
    public var schedule = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: 100, decaySteps: 2000)
    public var gradientClip: Float = 1
    /// Micro-batches whose gradients are averaged into one optimizer step.
    public var gradientAccumulation = 1
    /// On a non-finite loss, skip that step's update instead of stopping.
    public var skipNonFinite = false
    public var evalEvery = 250
    public var evalBatches = 20
    public var seed: UInt64 = 1337
    /// TrainingConfig's defaults (its fields are the one home of β1, β2 and weight decay).
    public var optimizer = TrainingConfig(model: GPTConfig()).optimizer

    public init() {}
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case corpusTooShort(split: String, tokens: Int, needed: Int)
    case nonFiniteLoss(step: Int)

    public var description: String {
        switch self {
        case let .corpusTooShort(split, tokens, needed):
            return "the \(split) split has \(tokens) tokens; one context window needs \(needed). Use more text or a shorter context (n_positions)."
        case let .nonFiniteLoss(step):
            return "the loss is not finite at step \(step); training stopped (the last checkpoint is intact). "
                + "Lower the learning rate, enable gradient clipping, or pass --skip-nonfinite to skip such steps"
        }
    }
}

/// What the loop reports as it goes.
public struct StepReport: Sendable {
    public init(step: Int, loss: Float, learningRate: Float, milliseconds: Double, tokensPerSecond: Double,
                evaluation: (train: Float, validation: Float)?) {
        self.step = step; self.loss = loss; self.learningRate = learningRate; self.milliseconds = milliseconds
        self.tokensPerSecond = tokensPerSecond; self.evaluation = evaluation
    }

    public let step: Int
    public let loss: Float
    public let learningRate: Float
    public let milliseconds: Double
    public let tokensPerSecond: Double
    /// Mean losses over fixed batches, on evaluation steps only.
    public let evaluation: (train: Float, validation: Float)?
}

public final class Trainer {
    public let model: GPT
    public let optimizer: AdamW
    public let options: TrainingOptions
    var train: TokenWindows
    let validation: [Int32]
    /// Steps completed so far (the next step's index).
    public internal(set) var stepsDone = 0

    public init(model: GPT, train: [Int32], validation: [Int32], options: TrainingOptions) throws {
        let needed = model.config.contextLength + 1
        guard train.count >= needed else { throw TrainingError.corpusTooShort(split: "training", tokens: train.count, needed: needed) }
        guard validation.count >= needed else { throw TrainingError.corpusTooShort(split: "validation", tokens: validation.count, needed: needed) }
        self.model = model
        self.options = options
        optimizer = AdamW(layout: model.layout, hyper: options.optimizer)
        self.train = TokenWindows(tokens: train, seed: options.seed)
        self.validation = validation
        model.dropoutSeed = options.seed
    }

    /// Runs the remaining steps up to `options.steps`, calling `report` after each (with the
    /// evaluation on the steps `evaluationDue` names).
    public func run(report: (StepReport) throws -> Void) throws {
        while stepsDone < options.steps {
            let done = try step()
            let evaluation = evaluationDue(after: done.step) ? try evaluate() : nil
            try report(StepReport(step: done.step, loss: done.loss, learningRate: done.learningRate, milliseconds: done.milliseconds,
                                  tokensPerSecond: done.tokensPerSecond, evaluation: evaluation))
        }
    }

    /// Whether an evaluation follows step `step`: every `evalEvery` steps, and the last.
    public func evaluationDue(after step: Int) -> Bool {
        options.evalEvery > 0 && (step % options.evalEvery == 0 || step == options.steps - 1)
    }

    /// Takes optimizer step `stepsDone`: `gradientAccumulation` micro-batches, clipping, AdamW.
    public func step() throws -> StepReport {
        let seq = model.config.contextLength, batch = options.batchSize
        let step = stepsDone
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = options.schedule.rate(at: step)
        model.isTraining = true
        model.zeroGradients()
        var loss: Float = 0
        let micro = options.gradientAccumulation
        for _ in 0..<micro {
            let (x, y) = train.next(batch: batch, seq: seq)
            let part = try model.forward(tokens: x, targets: y, batch: batch, seq: seq) ?? .nan
            loss += part / Float(micro)
            guard part.isFinite else { break }
            try model.backward(lossScale: 1 / Float(micro))
        }
        if loss.isFinite {
            optimizer.update(model, learningRate: lr, maxGradientNorm: options.gradientClip > 0 ? options.gradientClip : nil)
        } else if !options.skipNonFinite {
            throw TrainingError.nonFiniteLoss(step: step)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        stepsDone += 1
        return StepReport(step: step, loss: loss, learningRate: lr, milliseconds: ms,
                          tokensPerSecond: Double(tokensPerStep) / (ms / 1000), evaluation: nil)
    }

    /// Tokens one optimizer step trains on.
    public var tokensPerStep: Int { options.batchSize * model.config.contextLength * options.gradientAccumulation }

    /// Mean loss over `evalBatches` fixed batches of each split (the same batches at every evaluation).
    public func evaluate() throws -> (train: Float, validation: Float) {
        model.isTraining = false
        defer { model.isTraining = true }
        func meanLoss(_ tokens: [Int32]) throws -> Float {
            var windows = TokenWindows(tokens: tokens, seed: options.seed ^ 0xE7A1)
            var total: Float = 0
            for _ in 0..<options.evalBatches {
                let (x, y) = windows.next(batch: options.batchSize, seq: model.config.contextLength)
                total += try model.forward(tokens: x, targets: y, batch: options.batchSize, seq: model.config.contextLength) ?? 0
            }
            return total / Float(max(1, options.evalBatches))
        }
        return (try meanLoss(train.tokens), try meanLoss(validation))
    }
}
