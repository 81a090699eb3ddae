// Language-model training (`gpt train`, `gpt finetune lm`) as the run loop drives it:
// the Trainer's steps, its evaluations on fixed batches of each split (with a sample of
// the model's text when a sampler is given), and TrainingCheckpoint's files.
import Foundation
import GPTCore
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer

public final class LanguageModelRun: DataParallelRun {
    public let trainer: Trainer
    public let tokenizer: any Tokenizer
    /// Text the model writes at an evaluation (given the step), shown beside the losses.
    public var sampler: ((Int) -> String?)?

    public init(trainer: Trainer, tokenizer: any Tokenizer, sampler: ((Int) -> String?)? = nil) {
        self.trainer = trainer; self.tokenizer = tokenizer; self.sampler = sampler
    }

    public var stepsDone: Int { trainer.stepsDone }
    public var totalSteps: Int { trainer.options.steps }
    public var weightsAreFinite: Bool { trainer.model.parametersAreFinite }
    public var position: String { "after step \(trainer.stepsDone - 1)" }

    public func step() throws -> StepRecord {
        let r = try trainer.step()
        let ranks = trainer.communicator.size
        return StepRecord(step: r.step, loss: r.loss, learningRate: r.learningRate, milliseconds: r.milliseconds,
                          tokens: trainer.tokensPerStep, fields: ranks > 1 ? ["world_size": Double(ranks), "allreduce_wait_ms": trainer.lastReductionWaitMilliseconds] : [:])
    }

    public func shareRestoredState() throws { try trainer.synchronize() }

    public func prepareCheckpoint() throws { try trainer.gatherOptimizerState() }

    public func evaluationDue(after record: StepRecord) -> Bool { trainer.evaluationDue(after: record.step) }

    public func evaluate(after record: StepRecord) throws -> EvaluationRecord {
        let e = try trainer.evaluate()
        var summary = [String(format: "step %5d/%d  loss %.4f  train %.4f  val %.4f  lr %.2e  %.1f ms/step  %.0f tok/s",
                              record.step, totalSteps, record.loss, e.train, e.validation, record.learningRate,
                              record.milliseconds, record.tokensPerSecond)]
        if let text = sampler?(record.step) {
            summary.append("  sample: " + text.trimmingCharacters(in: .newlines).replacingOccurrences(of: "\n", with: "\n          "))
        }
        var fields: [String: Any] = [:]
        if e.validation.isFinite { fields["val_loss"] = Double(e.validation) }
        if e.train.isFinite { fields["eval_train_loss"] = Double(e.train) }
        return EvaluationRecord(loss: Double(e.validation), fields: fields, summary: summary)
    }

    public func writeCheckpoint(to directory: URL) throws {
        try TrainingCheckpoint.write(trainer, tokenizer: tokenizer, to: directory)
    }

    public func restore(from checkpoint: URL) throws {
        try TrainingCheckpoint.restore(trainer, tokenizer: tokenizer, from: checkpoint)
    }
}

extension LanguageModelRun {
    /// Runs (or, with `resume`, continues) the training in `directory` with the standard observers,
    /// `best` for the lowest validation loss, and a checkpoint at every evaluation and every
    /// `checkpointEvery` steps (all kept with `keepCheckpoints`, else the latest and the best).
    /// Data-parallel ranks other than 0 pass no directory: they train silently.
    public func start(in directory: RunDirectory?, resume: Bool, title: String, logEvery: Int,
                      checkpointEvery: Int?, keepCheckpoints: Bool = false) throws -> RunOutcome {
        let loop = RunLoop(run: self, directory: directory,
                           options: RunLoopOptions(checkpointEvery: checkpointEvery, bestLossKey: "val_loss",
                                                   keepCheckpoints: keepCheckpoints),
                           observers: directory.map { Self.observers(trainer.model, directory: $0, title: title, logEvery: logEvery) } ?? [])
        loop.communicator = trainer.communicator
        if directory == nil { loop.say = { _ in } }
        return try loop.start(resume: resume)
    }

    /// What a language-model run shows at each evaluation: 120 tokens sampled at temperature 0.8
    /// from the end-of-text token (or a newline), seeded by the step.
    public static func sampler(_ model: GPT, _ tokenizer: any Tokenizer, seed: UInt64) -> (Int) -> String? {
        { step in
            var sampling = GenerationOptions()
            sampling.maxNewTokens = 120
            sampling.sampling = SamplingOptions(temperature: 0.8)
            sampling.seed = seed &+ UInt64(step)
            let start = Int32(tokenizer.endOfTextID ?? (try? tokenizer.encode("\n"))?.first ?? 0)
            guard let sample = try? Generator(model: model).generate(prompt: [start], options: sampling)[0] else { return nil }
            return try? tokenizer.decode(sample.map(Int.init))
        }
    }

    /// The standard observers of a language-model run in `directory`.
    public static func observers(_ model: GPT, directory: RunDirectory, title: String, logEvery: Int) -> [any RunObserver] {
        let metrics = directory.url.appendingPathComponent(MetricsLog.fileName)
        let peak = PeakThroughput.measure(pool: model.pool, iterations: 2_000_000) * 1e9
        return [MetricsLog(url: metrics, every: logEvery),
                LossChartWriter(metrics: metrics, chart: directory.url.appendingPathComponent("loss.svg"), title: title),
                ProgressLine(flops: (model.trainingFlopsPerToken(seq: model.config.contextLength), peak))]
    }
}
