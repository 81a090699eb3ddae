// The one run loop behind `gpt train`, `gpt finetune lm` and `gpt finetune classify`.
//
// A `TrainingRun` knows how to take one optimizer step, when an evaluation is due, how
// to evaluate, and how to write and restore a checkpoint. The loop drives it: resume,
// steps, evaluations, checkpoints (at evaluations, every N steps, at the end; `best` for
// the lowest evaluation loss), SIGINT/SIGTERM/SIGHUP saving and stopping, and never a
// save of non-finite weights. Observers (progress line, metrics.jsonl, loss chart,
// console) watch it; none of them changes what is trained.
import Foundation
import GPTDistributed
import GPTIO

/// One optimizer step's figures.
public struct StepRecord: Sendable {
    /// The step's index (0-based): `stepsDone - 1` once it is done.
    public var step: Int
    public var loss: Float
    public var learningRate: Float
    public var milliseconds: Double
    /// Tokens the step processed, for tokens/s and MFU (0: not reported).
    public var tokens: Int
    /// Further figures for metrics.jsonl (e.g. the two parts of a fine-tuning loss).
    public var fields: [String: Double]
    /// Words for the progress line (e.g. "epoch 2/3").
    public var detail: String?

    public init(step: Int, loss: Float, learningRate: Float, milliseconds: Double, tokens: Int = 0,
                fields: [String: Double] = [:], detail: String? = nil) {
        self.step = step; self.loss = loss; self.learningRate = learningRate; self.milliseconds = milliseconds
        self.tokens = tokens; self.fields = fields; self.detail = detail
    }

    public var tokensPerSecond: Double { tokens > 0 && milliseconds > 0 ? Double(tokens) / (milliseconds / 1000) : 0 }
}

/// An evaluation's result.
public struct EvaluationRecord: @unchecked Sendable {
    /// Lower is better; chooses the `best` checkpoint. A non-finite value stops the run.
    public var loss: Double
    /// Merged into the step's metrics.jsonl line (JSON values).
    public var fields: [String: Any]
    /// Lines for the console.
    public var summary: [String]

    public init(loss: Double, fields: [String: Any], summary: [String]) {
        self.loss = loss; self.fields = fields; self.summary = summary
    }
}

/// What the run loop drives.
public protocol TrainingRun: AnyObject {
    /// Steps completed: the next step's index.
    var stepsDone: Int { get }
    var totalSteps: Int { get }
    /// Takes the next optimizer step.
    func step() throws -> StepRecord
    /// Whether an evaluation follows the step just taken.
    func evaluationDue(after record: StepRecord) -> Bool
    func evaluate(after record: StepRecord) throws -> EvaluationRecord
    /// Writes everything a resume needs into the (empty) directory.
    func writeCheckpoint(to directory: URL) throws
    /// Takes up a checkpoint written by `writeCheckpoint`, refusing one of another run.
    func restore(from checkpoint: URL) throws
    var weightsAreFinite: Bool { get }
    /// Where the run stands, for messages: "after step 12", "in epoch 2".
    var position: String { get }
}

/// A run whose steps several MPI ranks can share.
public protocol DataParallelRun: TrainingRun {
    /// After rank 0 restored a checkpoint, gives every rank its weights and state.
    func shareRestoredState() throws
    /// Before rank 0 writes a checkpoint, brings to it whatever other ranks hold (every rank calls it).
    func prepareCheckpoint() throws
}

/// Watches the loop.
public protocol RunObserver: AnyObject {
    func runStarted(_ run: any TrainingRun) throws
    /// After each step (and its evaluation, if one was due), before any checkpoint is saved.
    func stepFinished(_ record: StepRecord, evaluation: EvaluationRecord?) throws
    /// The loop is about to print its closing lines or stop.
    func runEnded()
}

extension RunObserver {
    public func runStarted(_ run: any TrainingRun) throws {}
    public func runEnded() {}
}

public enum RunLoopError: Error, CustomStringConvertible, Equatable {
    case nonFiniteEvaluation(position: String)
    case nonFiniteWeights(position: String)

    public var description: String {
        switch self {
        case let .nonFiniteEvaluation(position):
            return "the evaluation loss is not finite \(position); stopping with the last good checkpoint kept"
        case let .nonFiniteWeights(position): return "the weights are not finite \(position); not saved"
        }
    }
}

/// How a run ended.
public enum RunOutcome: Equatable, Sendable {
    case finished(seconds: Double)
    /// It had already run every step (a `--resume` of a finished run).
    case alreadyComplete
    /// A stop signal arrived; the run was saved. The command exits with `StopSignals.exitStatus`.
    case stopped(signal: Int32)
}

public struct RunLoopOptions: Sendable {
    /// Also save every this many steps (evaluations always save).
    public var checkpointEvery: Int?
    /// Point `best` at the checkpoint of the lowest evaluation loss; on resume, the lowest
    /// earlier one is read from this metrics.jsonl key.
    public var bestLossKey: String?
    /// Keep every checkpoint saved, instead of letting the next save replace it (a run whose
    /// intermediate models are wanted later, such as a curve of what more pre-training buys).
    public var keepCheckpoints: Bool

    public init(checkpointEvery: Int? = nil, bestLossKey: String? = nil, keepCheckpoints: Bool = false) {
        self.checkpointEvery = checkpointEvery; self.bestLossKey = bestLossKey; self.keepCheckpoints = keepCheckpoints
    }
}

public final class RunLoop {
    public let run: any TrainingRun
    /// nil on data-parallel ranks other than 0: they train but write nothing.
    public let directory: RunDirectory?
    public let options: RunLoopOptions
    public var observers: [any RunObserver]
    /// Where the loop's own lines go (resume, interruption).
    public var say: (String) -> Void = { print($0) }
    /// The ranks sharing the run; they agree on resuming and on stopping.
    public var communicator: any Communicator = SingleProcessCommunicator()
    private var savedAtStep: Int?

    public init(run: any TrainingRun, directory: RunDirectory?, options: RunLoopOptions = RunLoopOptions(),
                observers: [any RunObserver] = []) {
        self.run = run; self.directory = directory; self.options = options; self.observers = observers
    }

    /// Runs to the end, or until a stop signal; with `resume`, first takes up the directory's checkpoint.
    public func start(resume: Bool) throws -> RunOutcome {
        if communicator.size > 1 && !(run is any DataParallelRun) { throw DataParallelError.notDataParallel }
        if resume {
            var checkpoint: URL?
            if let directory {
                guard let latest = directory.target(of: RunDirectory.latestLink) else {
                    throw RunDirectoryError.nothingToResume(path: directory.url.path)
                }
                try run.restore(from: latest)
                checkpoint = latest
            }
            if communicator.size > 1, let shared = run as? any DataParallelRun { try shared.shareRestoredState() }
            savedAtStep = run.stepsDone
            guard run.stepsDone < run.totalSteps else {
                say("the run in \(directory?.url.path ?? "") is complete (\(run.totalSteps) steps); nothing to resume")
                return .alreadyComplete
            }
            say("resuming after step \(run.stepsDone) of \(run.totalSteps) (\(checkpoint?.path ?? "")"
                + (communicator.size > 1 ? " on \(communicator.size) ranks)" : ")"))
        }
        var best = resume ? earlierBest() : .infinity
        let signals = StopSignals()
        let started = Date()
        var ended = false
        func end() {
            if !ended { ended = true; for observer in observers { observer.runEnded() } }
        }
        defer { end() }
        for observer in observers { try observer.runStarted(run) }
        while run.stepsDone < run.totalSteps {
            let record = try run.step()
            let evaluation = run.evaluationDue(after: record) ? try run.evaluate(after: record) : nil
            for observer in observers { try observer.stepFinished(record, evaluation: evaluation) }
            if let evaluation {
                // Weights that give a non-finite loss are never saved: the last good checkpoint stays.
                guard evaluation.loss.isFinite && run.weightsAreFinite else {
                    throw RunLoopError.nonFiniteEvaluation(position: "at step \(record.step)")
                }
                let saved = try save()
                if options.bestLossKey != nil && evaluation.loss < best {
                    best = evaluation.loss
                    if let directory, let saved { try directory.point(RunDirectory.bestLink, at: saved) }
                }
            } else if let every = options.checkpointEvery, run.stepsDone % every == 0, run.weightsAreFinite {
                try save()
            }
            // A signal may reach the ranks at different steps: all stop after the same one.
            var received = signals.received
            if communicator.size > 1 {
                let signal = try communicator.allReduceMax(Int(received ?? 0))
                received = signal > 0 ? Int32(signal) : nil
            }
            if let signal = received {
                end()
                if savedAtStep != run.stepsDone {
                    guard run.weightsAreFinite else { throw RunLoopError.nonFiniteWeights(position: run.position) }
                    try save()
                }
                say("interrupted \(run.position) (\(StopSignals.name(signal))); checkpoint saved in "
                    + "\(directory?.url.appendingPathComponent(RunDirectory.latestLink).path ?? ""); continue with --resume")
                return .stopped(signal: signal)
            }
        }
        end()
        if savedAtStep != run.stepsDone {
            guard run.weightsAreFinite else { throw RunLoopError.nonFiniteWeights(position: run.position) }
            try save()
        }
        return .finished(seconds: Date().timeIntervalSince(started))
    }

    /// Saves on rank 0 (nil elsewhere).
    @discardableResult
    private func save() throws -> URL? {
        if communicator.size > 1, let shared = run as? any DataParallelRun { try shared.prepareCheckpoint() }
        guard let directory else { savedAtStep = run.stepsDone; return nil }
        let saved = try directory.saveCheckpoint(name: "\(run.stepsDone)", keep: options.keepCheckpoints) {
            try run.writeCheckpoint(to: $0)
        }
        savedAtStep = run.stepsDone
        return saved
    }

    /// The lowest evaluation loss logged before the checkpoint resumed from.
    private func earlierBest() -> Double {
        guard let key = options.bestLossKey, let directory else { return .infinity }
        let metrics = directory.url.appendingPathComponent(MetricsLog.fileName)
        return MetricsLog.values(of: key, in: metrics, before: run.stepsDone).min() ?? .infinity
    }
}
