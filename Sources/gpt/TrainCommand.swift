// `gpt train`: pre-train a GPT from text. With no data it trains the `demo` preset on
// a corpus generated in code, so a first run needs nothing but the binary.
import ArgumentParser
import Foundation
import Synchronization
import GPTCore
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a GPT on text (character-level), printing progress and samples.",
        discussion: """
        Presets:
          demo                  4 layers, 4 heads, 128 dims, context 64, batch 12, 1500 steps, on a
                                generated corpus of simple English sentences (the default, no data needed)
          shakespeare-char-cpu  nanoGPT's CPU configuration: 4 layers, 4 heads, 128 dims, context 64,
                                batch 12, lr 1e-3, 2000 steps; needs --data (e.g. tinyshakespeare.txt)
        At each evaluation, at the end and on Ctrl-C, a checkpoint is saved atomically in
        --out/checkpoint (a Hugging Face GPT-2 directory plus optimizer.safetensors, state.json and
        the tokenizer); --resume continues from it bit for bit. Each step is logged to
        --out/metrics.jsonl, and --out/loss.svg (train and validation loss against step) is redrawn
        at each evaluation.
        Examples:
          gpt train
          gpt train --preset shakespeare-char-cpu --data tinyshakespeare.txt --out runs/shakespeare
          gpt train --out runs/demo --resume
        """)

    @Option(help: "demo or shakespeare-char-cpu.") var preset: String?
    @Option(help: "A UTF-8 text file to train on with a character tokenizer (90% train, 10% validation).") var data: String?
    @Option(help: "Output directory (default: runs/<preset>).") var out: String?
    @Option(help: "Training steps (overrides the preset).") var steps: Int?
    @Option(help: "Evaluate and sample every N steps (overrides the preset).") var evalEvery: Int?
    @Option(help: "Seed for initialisation, data order, dropout and sampling.") var seed: UInt64 = 1337
    @Option(help: "Worker threads (default: all cores).") var threads = ThreadPool.coreCount
    @Flag(help: "Continue the run in --out from its checkpoint, exactly as if it had not stopped.") var resume = false

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every must be at least 1, got \(evalEvery)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        let name = preset ?? (data == nil ? "demo" : "shakespeare-char-cpu")
        guard ["demo", "shakespeare-char-cpu"].contains(name) else {
            throw ValidationError("unknown preset '\(name)'; available: demo, shakespeare-char-cpu")
        }
        if name != "demo" && data == nil { throw ValidationError("preset \(name) needs --data FILE") }
    }

    func run() throws {
        let name = preset ?? (data == nil ? "demo" : "shakespeare-char-cpu")
        let text: String
        if let data {
            guard let contents = FileManager.default.contents(atPath: data) else { throw ValidationError("cannot read --data \(data)") }
            guard let decoded = String(data: contents, encoding: .utf8) else { throw ValidationError("--data \(data) is not UTF-8 text") }
            text = decoded
        } else {
            text = DemoCorpus.text(seed: seed)
        }
        guard !text.isEmpty else { throw ValidationError("the training text is empty") }
        let tokenizer = CharTokenizer(characters: text.unicodeScalars)
        let ids = try tokenizer.encode(text).map(Int32.init)
        let split = ids.count * 9 / 10

        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 64, embeddingSize: 128,
                               layerCount: 4, headCount: 4, dropout: 0)
        var options = TrainingOptions()
        options.seed = seed
        options.batchSize = 12
        options.steps = steps ?? (name == "demo" ? 1500 : 2000)
        options.evalEvery = evalEvery ?? (name == "demo" ? 250 : 250)
        options.schedule = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: min(100, max(1, options.steps / 10)),
                                                decaySteps: options.steps)

        let pool = ThreadPool(threads: threads)
        let model = try GPT(config: config, seed: seed, pool: pool)
        let trainer = try Trainer(model: model, train: Array(ids[..<split]), validation: Array(ids[split...]), options: options)
        print("preset \(name): \(ids.count) characters, vocabulary \(tokenizer.vocabularySize), "
              + "\(model.parameterCount) parameters, \(options.steps) steps of \(options.batchSize)×\(config.contextLength) tokens, \(threads) threads")
        let directory = URL(fileURLWithPath: out ?? "runs/\(name)")
        if resume {
            let checkpoint = directory.appendingPathComponent(TrainingCheckpoint.linkName)
            guard FileManager.default.fileExists(atPath: checkpoint.path) else {
                throw ValidationError("--resume: there is no checkpoint in \(directory.path)")
            }
            try TrainingCheckpoint.restore(trainer, tokenizer: tokenizer, from: checkpoint)
            print("resumed from \(checkpoint.path) after step \(trainer.stepsDone - 1)")
        }
        let metrics = try MetricsLog(url: directory.appendingPathComponent("metrics.jsonl"), fromStep: trainer.stepsDone)
        let interrupt = InterruptFlag()
        let started = Date()
        do {
            try trainer.run { r in
                try metrics.write(r, elapsedSeconds: Date().timeIntervalSince(started))
                if let e = r.evaluation {
                    print(String(format: "step %5d/%d  loss %.4f  train %.4f  val %.4f  lr %.2e  %.1f ms/step  %.0f tok/s",
                                 r.step, options.steps, r.loss, e.train, e.validation, r.learningRate, r.milliseconds, r.tokensPerSecond))
                    printSample(model, tokenizer, seed: seed &+ UInt64(r.step))
                    try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
                    let (train, validation) = LossChart.series(metrics: directory.appendingPathComponent("metrics.jsonl"))
                    try AtomicFile.write(Data(LossChart.svg(train: train, validation: validation, title: "gpt train: \(name)").utf8),
                                         to: directory.appendingPathComponent("loss.svg"))
                }
                if interrupt.raised { throw CancellationError() }
            }
        } catch is CancellationError {
            try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: directory)
            print("interrupted after step \(trainer.stepsDone - 1); checkpoint saved in \(directory.path)/checkpoint; continue with --resume")
            throw ExitCode(130)
        }
        print(String(format: "trained in %.0f s; checkpoint in %@/checkpoint", Date().timeIntervalSince(started), directory.path))
    }

    func printSample(_ model: GPT, _ tokenizer: CharTokenizer, seed: UInt64) {
        var sampling = GenerationOptions()
        sampling.maxNewTokens = 120
        sampling.sampling = SamplingOptions(temperature: 0.8)
        sampling.seed = seed
        let start = Int32((try? tokenizer.encode("\n"))?.first ?? 0)
        if let sample = try? Generator(model: model).generate(prompt: [start], options: sampling)[0],
           let text = try? tokenizer.decode(sample.map(Int.init)) {
            print("  sample: " + text.trimmingCharacters(in: .newlines).replacingOccurrences(of: "\n", with: "\n          "))
        }
    }
}

/// Set when the user presses Ctrl-C, so the loop can save a checkpoint and stop cleanly.
final class InterruptFlag: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    private var source: DispatchSourceSignal?

    init() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in self.flag.store(true, ordering: .relaxed) }
        source.resume()
        self.source = source
    }

    var raised: Bool { flag.load(ordering: .relaxed) }
}
