// The pre-training loop: random windows, forward, backward, gradient clipping,
// AdamW with a warmup + cosine schedule, and periodic evaluation on fixed batches
// of the training and validation splits. Windows come from GPTData's BatchSampler,
// read straight from memory-mapped token files (or ids in memory, for a text encoded
// for this run): the corpus is never copied whole. Under mpirun the ranks share each step: every rank
// draws every window of the step, trains on its own share, and the gradients are summed over
// the ranks while backward runs (see GradientBuckets), so all ranks take the same AdamW step.
import Foundation
import GPTCore
import GPTData
import GPTDistributed
import GPTKernels

public struct TrainingOptions: Sendable {
    public var batchSize = 12
    public var steps = 2000
    public var schedule = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: 100, decaySteps: 2000)
    public var gradientClip: Float = 1
    /// Micro-batches whose gradients are averaged into one optimizer step (per rank when data-parallel).
    public var gradientAccumulation = 1
    /// Each micro-batch's gradient is computed alone and then added to the step's sum, in order,
    /// as data-parallel ranks sum theirs: N ranks reproduce one process's step bit for bit.
    /// Costs one more gradient buffer and two passes over it per micro-batch.
    public var orderedAccumulation = false
    /// Data-parallel ranks that share one machine's memory split the optimizer step (OptimizerShards)
    /// instead of all-reducing the gradients through MPI. Off: the all-reduce, as across machines.
    public var shardOptimizerInSharedMemory = true
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
    var train: BatchSampler
    let validation: TokenShards
    /// The fingerprint a checkpoint records of the training tokens (computed once, on first use).
    public private(set) lazy var dataFingerprint: UInt64 = Trainer.fingerprint(train.tokens)
    /// Steps completed so far (the next step's index).
    public internal(set) var stepsDone = 0
    /// The data-parallel ranks this trainer is one of (one process by default).
    public let communicator: any Communicator
    /// The optimizer step split over ranks on one machine (nil: one process, or gradients all-reduced).
    let shards: OptimizerShards?
    /// Of the last step, the time spent combining gradients after backward: the part of the
    /// communication that backward did not hide (data-parallel runs).
    public private(set) var lastReductionWaitMilliseconds: Double = 0
    /// How the ranks combine gradients: "shared-memory shards", "all-reduce" or "none" (one process).
    public var gradientExchange: String { communicator.size == 1 ? "none" : shards != nil ? "shared-memory shards" : "all-reduce" }
    /// The step's gradient so far while the next micro-batch's is computed (ordered accumulation).
    private var accumulated: UnsafeMutablePointer<Float>?

    /// With several ranks, rank 0's weights are copied to all and verified by checksum.
    public convenience init(model: GPT, train: [Int32], validation: [Int32], options: TrainingOptions,
                            communicator: any Communicator = SingleProcessCommunicator()) throws {
        try self.init(model: model, train: TokenShards(tokens: train), validation: TokenShards(tokens: validation),
                      options: options, communicator: communicator)
    }

    /// Trains on windows of `train` (read in place) and evaluates on fixed windows of both splits.
    public init(model: GPT, train: TokenShards, validation: TokenShards, options: TrainingOptions,
                communicator: any Communicator = SingleProcessCommunicator()) throws {
        let needed = model.config.contextLength + 1
        guard train.count >= needed else { throw TrainingError.corpusTooShort(split: "training", tokens: train.count, needed: needed) }
        guard validation.count >= needed else { throw TrainingError.corpusTooShort(split: "validation", tokens: validation.count, needed: needed) }
        self.model = model
        self.options = options
        optimizer = AdamW(layout: model.layout, hyper: options.optimizer)
        self.train = BatchSampler(tokens: train, seed: options.seed)
        self.validation = validation
        model.dropoutSeed = options.seed
        self.communicator = communicator
        if communicator.size > 1 && options.shardOptimizerInSharedMemory,
           let segments = try communicator.sharedSegments(count: model.layout.count) {
            let shards = OptimizerShards(segments: segments, rank: communicator.rank, ranks: communicator.size, count: model.layout.count)
            model.placeGradients(in: shards.gradients)
            self.shards = shards
        } else {
            shards = nil
        }
        try synchronize()
    }

    deinit { accumulated?.deallocate() }

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

    /// Takes optimizer step `stepsDone`: `gradientAccumulation` micro-batches on each rank,
    /// clipping, AdamW. Of the step's `gradientAccumulation × ranks` micro-batches, rank r takes
    /// those numbered r, r + ranks, … (llm.c's loader), so the step sees the windows one process
    /// with `gradientAccumulation × ranks` would, with the same dropout masks.
    public func step() throws -> StepReport {
        let seq = model.config.contextLength, batch = options.batchSize
        let step = stepsDone
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = options.schedule.rate(at: step)
        model.isTraining = true
        model.zeroGradients()
        let ranks = communicator.size, local = options.gradientAccumulation, micro = local * ranks
        // Each micro-batch's loss in its own slot: summing the slots over ranks is exact.
        var losses = [Float](repeating: 0, count: micro)
        let firstPass = model.passCount
        let buckets = ranks > 1 && shards == nil ? GradientBuckets(communicator: communicator, gradients: model.gradients!, pool: model.pool) : nil
        var taken = 0
        for m in 0..<micro {
            guard m % ranks == communicator.rank else { train.skip(batch: batch, seq: seq); continue }
            let (x, y) = train.next(batch: batch, seq: seq)
            model.passCount = firstPass &+ UInt64(m)
            let part = try model.forward(tokens: x, targets: y, batch: batch, seq: seq) ?? .nan
            losses[m] = part
            // Ranks go on regardless: every rank must make the same collective calls.
            guard part.isFinite || ranks > 1 else { break }
            taken += 1
            let stashed = options.orderedAccumulation && taken > 1 ? stashGradients() : nil
            if taken == local, let buckets {
                buckets.pending = stashed
                model.gradientsFinished = { buckets.finished($0) }
            }
            defer { model.gradientsFinished = nil }
            try model.backward(lossScale: 1 / Float(micro))
            if let stashed, taken < local || buckets == nil {
                Residual.forward(out: model.gradients!, model.gradients!, stashed, count: model.layout.count, pool: model.pool)
            }
        }
        if ranks > 1 {
            let waitStart = DispatchTime.now().uptimeNanoseconds
            try buckets?.wait()
            lastReductionWaitMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - waitStart) / 1e6
            model.passCount = firstPass &+ UInt64(micro)
            try losses.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        }
        var loss: Float = 0
        for part in losses { loss += part / Float(micro) }
        let maxNorm = options.gradientClip > 0 ? options.gradientClip : nil
        if loss.isFinite {
            if let shards {
                lastReductionWaitMilliseconds = try shards.update(model, optimizer: optimizer, learningRate: lr, maxGradientNorm: maxNorm,
                                                                  communicator: communicator).exchangeMilliseconds
            } else {
                optimizer.update(model, learningRate: lr, maxGradientNorm: maxNorm)
            }
        } else if !options.skipNonFinite {
            throw TrainingError.nonFiniteLoss(step: step)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        stepsDone += 1
        return StepReport(step: step, loss: loss, learningRate: lr, milliseconds: ms,
                          tokensPerSecond: Double(tokensPerStep) / (ms / 1000), evaluation: nil)
    }

    /// Tokens one optimizer step trains on (over all ranks).
    public var tokensPerStep: Int {
        options.batchSize * model.config.contextLength * options.gradientAccumulation * communicator.size
    }

    /// Mean loss over `evalBatches` fixed batches of each split (the same batches at every evaluation),
    /// the batches shared out over the ranks. With several ranks, first checks that every rank
    /// still holds the same weights.
    public func evaluate() throws -> (train: Float, validation: Float) {
        if communicator.size > 1 { try verifySameWeights(position: "after step \(stepsDone - 1)") }
        model.isTraining = false
        defer { model.isTraining = true }
        let ranks = communicator.size
        func meanLoss(_ tokens: TokenShards) throws -> Float {
            var windows = BatchSampler(tokens: tokens, seed: options.seed ^ 0xE7A1)
            let seq = model.config.contextLength, batch = options.batchSize
            var losses = [Double](repeating: 0, count: options.evalBatches)
            for i in 0..<options.evalBatches {
                guard i % ranks == communicator.rank else { windows.skip(batch: batch, seq: seq); continue }
                let (x, y) = windows.next(batch: batch, seq: seq)
                losses[i] = Double(try model.forward(tokens: x, targets: y, batch: batch, seq: seq) ?? 0)
            }
            // The evaluation's windows leave no pages of a large corpus resident (see BatchSampler.residentBudget).
            if tokens.mappedBytes > BatchSampler.residentBudget { tokens.releaseAll() }
            try losses.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            // Summed in batch order as one process sums them, whichever rank computed each.
            var total: Float = 0
            for loss in losses { total += Float(loss) }
            return total / Float(max(1, options.evalBatches))
        }
        return (try meanLoss(train.tokens), try meanLoss(validation))
    }

    /// Copies the gradient to the stash (allocated on first use) and zeroes the gradient.
    private func stashGradients() -> UnsafeMutablePointer<Float> {
        let count = model.layout.count
        if accumulated == nil { accumulated = .allocate(capacity: count) }
        accumulated!.update(from: model.gradients!, count: count)
        model.zeroGradients()
        return accumulated!
    }
}
