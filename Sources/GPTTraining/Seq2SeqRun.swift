// Encoder–decoder training as the one RunLoop drives it: Seq2SeqTrainer's steps, an evaluation
// every `eval_every` steps (validation cross-entropy, and the greedy translation of the first
// validation source beside its reference), and checkpoints through TrainingCheckpoint's writer:
//
//   config.json            Seq2SeqConfig (model_type "transformer", nn.Transformer's argument names)
//   model.safetensors      nn.Transformer's state_dict names and orientation (Seq2SeqWeights)
//   optimizer.safetensors  AdamW's moments, state.json (Seq2SeqTrainingState), gpt-tokenizer.json
import Foundation
import GPTCore
import GPTData
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer

public final class Seq2SeqRun: TrainingRun {
    public let trainer: Seq2SeqTrainer
    public let tokenizer: any Tokenizer
    /// Translate the first validation source at each evaluation.
    public var showsSample = true

    public init(trainer: Seq2SeqTrainer, tokenizer: any Tokenizer) {
        self.trainer = trainer; self.tokenizer = tokenizer
    }

    public var stepsDone: Int { trainer.stepsDone }
    public var totalSteps: Int { trainer.config.steps }
    public var weightsAreFinite: Bool {
        Reduction.sumOfSquares(trainer.model.parameters, count: trainer.model.layout.count, pool: trainer.model.pool).isFinite
    }
    public var position: String { "after step \(trainer.stepsDone - 1)" }

    public func step() throws -> StepRecord {
        let epoch = trainer.position.epoch
        let r = try trainer.step()
        return StepRecord(step: trainer.stepsDone - 1, loss: r.loss, learningRate: r.learningRate, milliseconds: r.milliseconds,
                          tokens: r.tokens, fields: ["epoch": Double(epoch), "target_tokens": Double(r.targets)],
                          detail: "epoch \(epoch + 1)")
    }

    public func evaluationDue(after record: StepRecord) -> Bool { trainer.evaluationDue(after: record.step) }

    public func evaluate(after record: StepRecord) throws -> EvaluationRecord {
        let e = try trainer.validationLoss()
        var summary = [String(format: "step %5d/%d  train loss %.4f  val loss %.4f  lr %.2e  %.1f ms/step  %.0f tok/s",
                              record.step, totalSteps, record.loss, e.loss, record.learningRate, record.milliseconds,
                              record.tokensPerSecond)]
        if showsSample, let pair = trainer.validation.first {
            let translator = Translator(model: trainer.model, tokenizer: tokenizer)
            if let output = try? translator.translate([pair.source], maxLength: pair.target.count * 2 + 8).first {
                summary.append("  source:    " + ((try? tokenizer.decode(pair.source.map(Int.init))) ?? ""))
                summary.append("  reference: " + ((try? tokenizer.decode(pair.target.map(Int.init))) ?? ""))
                summary.append("  model:     " + output.text)
            }
        }
        return EvaluationRecord(loss: e.loss, fields: ["val_loss": e.loss], summary: summary)
    }

    public func writeCheckpoint(to directory: URL) throws {
        try Seq2SeqCheckpoint.write(trainer, tokenizer: tokenizer, to: directory)
    }

    public func restore(from checkpoint: URL) throws {
        try Seq2SeqCheckpoint.restore(trainer, tokenizer: tokenizer, from: checkpoint)
    }

    /// Runs (or, with `resume`, continues) the training in `directory` with the standard observers,
    /// `best` for the lowest validation loss, and checkpoints at evaluations and every `checkpointEvery` steps
    /// (all kept with `keepCheckpoints`, else the latest and the best).
    public func start(in directory: RunDirectory, resume: Bool, title: String, logEvery: Int, checkpointEvery: Int?,
                      keepCheckpoints: Bool = false) throws -> RunOutcome {
        let metrics = directory.url.appendingPathComponent(MetricsLog.fileName)
        let peak = PeakThroughput.measure(pool: trainer.model.pool, iterations: 2_000_000) * 1e9
        let observers: [any RunObserver] = [
            MetricsLog(url: metrics, every: logEvery),
            LossChartWriter(metrics: metrics, chart: directory.url.appendingPathComponent("loss.svg"), title: title),
            ProgressLine(flops: (trainer.flopsPerToken, peak)),
        ]
        let loop = RunLoop(run: self, directory: directory,
                           options: RunLoopOptions(checkpointEvery: checkpointEvery, bestLossKey: "val_loss",
                                                   keepCheckpoints: keepCheckpoints), observers: observers)
        return try loop.start(resume: resume)
    }
}

public enum Seq2SeqCheckpoint {
    public static func write(_ trainer: Seq2SeqTrainer, tokenizer: any Tokenizer, to directory: URL) throws {
        try TrainingCheckpoint.write(saveModel: { try Seq2SeqWeights.save(trainer.model, to: $0) },
                                     tensors: trainer.model.layout.tensors, optimizer: trainer.optimizer, state: trainer.state(),
                                     tokenizer: tokenizer, to: directory)
    }

    /// Restores weights, moments and state, after checking that the model (all but dropout), the
    /// tokenizer and the training pairs are the checkpoint's.
    public static func restore(_ trainer: Seq2SeqTrainer, tokenizer: any Tokenizer, from directory: URL) throws {
        var saved = try Seq2SeqWeights.loadConfig(directory.appendingPathComponent("config.json"))
        let current = trainer.model.config
        saved.dropout = current.dropout
        if saved != current {
            let a = try JSONSerialization.jsonObject(with: JSONEncoder().encode(saved)) as? [String: Any] ?? [:]
            let b = try JSONSerialization.jsonObject(with: JSONEncoder().encode(current)) as? [String: Any] ?? [:]
            let key = a.keys.sorted().first { "\(a[$0] ?? "-")" != "\(b[$0] ?? "-")" } ?? "config"
            throw CheckpointMismatch.config(field: key, checkpoint: "\(a[key] ?? "-")", run: "\(b[key] ?? "-")")
        }
        let savedTokenizer = try TokenizerLoader.load(directory.path)
        guard savedTokenizer.name == tokenizer.name, savedTokenizer.vocabularySize == tokenizer.vocabularySize else {
            throw CheckpointMismatch.tokenizer(checkpoint: "\(savedTokenizer.name) (\(savedTokenizer.vocabularySize) ids)",
                                               run: "\(tokenizer.name) (\(tokenizer.vocabularySize) ids)")
        }
        let stateURL = directory.appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path) else { throw CheckpointError.missingFile(stateURL.path) }
        let state: Seq2SeqTrainingState
        do { state = try JSONDecoder().decode(Seq2SeqTrainingState.self, from: data) } catch {
            throw CheckpointError.invalidConfig(path: stateURL.path, reason: "not an encoder–decoder training state (\(error))")
        }
        guard state.dataFingerprint == trainer.dataFingerprint else { throw CheckpointMismatch.data }
        try Seq2SeqWeights.load(SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors")), into: trainer.model)
        try trainer.optimizer.loadMoments(of: trainer.model.layout.tensors,
                                          from: SafeTensorsFile(contentsOf: directory.appendingPathComponent("optimizer.safetensors")))
        trainer.restore(state)
    }

    /// Whether the model directory holds an encoder–decoder: config.json's model_type is "transformer"
    /// (ours) or "marian" (a Hugging Face MarianMTModel, which Seq2SeqWeights.load reads too).
    public static func isSeq2Seq(_ directory: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("config.json").path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let type = object["model_type"] as? String else { return false }
        return type == Seq2SeqConfig.modelType || type == MarianConfigFile.modelType
    }
}
