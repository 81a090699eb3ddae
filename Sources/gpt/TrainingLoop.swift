// The language-model training loop as `gpt train` and `gpt finetune lm` run it: progress,
// metrics.jsonl, evaluation with a sample, atomic checkpoints (latest and best), loss.svg,
// Ctrl-C saving a resumable checkpoint, and refusing to save non-finite weights.
import ArgumentParser
import Foundation
import GPTCore
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct TrainingLoop {
    /// Write a metrics.jsonl line every this many steps (evaluation steps always).
    var logEvery: Int
    /// Also save a checkpoint every this many steps (evaluations always save one); nil: only then.
    var checkpointEvery: Int?
    /// The loss chart's title.
    var title: String

    func run(_ trainer: Trainer, tokenizer: any Tokenizer, in directory: URL, resume: Bool, seed: UInt64) throws {
        let model = trainer.model, options = trainer.options
        if resume {
            let checkpoint = directory.appendingPathComponent(TrainingCheckpoint.linkName)
            guard FileManager.default.fileExists(atPath: checkpoint.path) else {
                throw CommandError("--resume: there is no checkpoint in \(directory.path)")
            }
            try TrainingCheckpoint.restore(trainer, tokenizer: tokenizer, from: checkpoint)
            print("resumed from \(checkpoint.path) after step \(trainer.stepsDone - 1)")
        }
        let metricsURL = directory.appendingPathComponent("metrics.jsonl")
        let metrics = try MetricsLog(url: metricsURL, fromStep: trainer.stepsDone)
        var best = LossChart.series(metrics: metricsURL).validation.map(\.loss).min() ?? .infinity
        let interrupt = InterruptFlag()
        let progress = TrainingProgress(totalSteps: options.steps, flopsPerToken: model.trainingFlopsPerToken(seq: model.config.contextLength),
                                        peakFlops: PeakThroughput.measure(pool: model.pool, iterations: 2_000_000) * 1e9)
        let started = Date()
        do {
            try trainer.run { r in
                if r.step % logEvery == 0 || r.evaluation != nil || r.step == options.steps - 1 {
                    try metrics.write(r, elapsedSeconds: Date().timeIntervalSince(started))
                }
                progress.update(r)
                if !r.loss.isFinite { FileHandle.standardError.write(Data("step \(r.step): loss not finite, update skipped\n".utf8)) }
                if let e = r.evaluation {
                    progress.clearLine()
                    print(String(format: "step %5d/%d  loss %.4f  train %.4f  val %.4f  lr %.2e  %.1f ms/step  %.0f tok/s",
                                 r.step, options.steps, r.loss, e.train, e.validation, r.learningRate, r.milliseconds, r.tokensPerSecond))
                    printSample(model, tokenizer, seed: seed &+ UInt64(r.step))
                    // Weights that give a non-finite loss are never saved: the last good checkpoint stays.
                    guard e.train.isFinite && e.validation.isFinite else {
                        throw CommandError("the evaluation loss is not finite at step \(r.step); stopping with the last good checkpoint kept")
                    }
                    let saved = try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
                    if Double(e.validation) < best {
                        best = Double(e.validation)
                        try TrainingCheckpoint.point("best", at: saved, in: directory)
                    }
                    let (train, validation) = LossChart.series(metrics: metricsURL)
                    try AtomicFile.write(Data(LossChart.svg(train: train, validation: validation, title: title).utf8),
                                         to: directory.appendingPathComponent("loss.svg"))
                } else if let every = checkpointEvery, (r.step + 1) % every == 0, model.parametersAreFinite {
                    try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
                }
                if interrupt.raised { throw CancellationError() }
            }
            progress.finish()
        } catch is CancellationError {
            progress.finish()
            try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
            print("interrupted after step \(trainer.stepsDone - 1); checkpoint saved in \(directory.path)/checkpoint; continue with --resume")
            throw ExitCode(130)
        }
        let link = directory.appendingPathComponent(TrainingCheckpoint.linkName)
        let savedSteps = (try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == "checkpoint-\(trainer.stepsDone)"
        if !savedSteps {
            guard model.parametersAreFinite else {
                throw CommandError("the weights are not finite after step \(trainer.stepsDone - 1); not saved")
            }
            try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
        }
        print(String(format: "trained in %.0f s; checkpoint in %@/checkpoint", Date().timeIntervalSince(started), directory.path))
    }

    func printSample(_ model: GPT, _ tokenizer: any Tokenizer, seed: UInt64) {
        var sampling = GenerationOptions()
        sampling.maxNewTokens = 120
        sampling.sampling = SamplingOptions(temperature: 0.8)
        sampling.seed = seed
        let start = Int32(tokenizer.endOfTextID ?? (try? tokenizer.encode("\n"))?.first ?? 0)
        if let sample = try? Generator(model: model).generate(prompt: [start], options: sampling)[0],
           let text = try? tokenizer.decode(sample.map(Int.init)) {
            print("  sample: " + text.trimmingCharacters(in: .newlines).replacingOccurrences(of: "\n", with: "\n          "))
        }
    }
}
