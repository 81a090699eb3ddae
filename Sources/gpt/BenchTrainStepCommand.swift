// `gpt bench train-step`: forward + backward + AdamW on a randomly initialised model,
// median milliseconds per step, tokens/s, MFU and peak RSS.
import ArgumentParser
import Foundation
import GPTIO
import GPTCore
import GPTKernels
import GPTTraining

struct BenchTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Time one training step (forward, backward, AdamW) of a randomly initialised model.",
        discussion: """
        MFU divides the model's training FLOPs (6 per parameter per token plus attention's 12·L·C·T) \
        by this machine's measured FP32 peak: a register-resident FMA loop on the same threads.
        Example: gpt bench train-step --model gpt2 --batch 4 --seq 64 --json
        """)

    @Option(help: "Model preset: gpt2 (124M), or tiny (2 layers, 48 dims) for a smoke test.") var model = "gpt2"
    @Option(help: "Sequences per step.") var batch = 4
    @Option(help: "Tokens per sequence.") var seq = 64
    @OptionGroup var threading: ThreadOptions
    @Option(help: "Timed steps after three warm-up steps (the median is reported).") var steps = 8
    @Option(help: "Seed for initialisation and data.") var seed: UInt64 = 1337
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be in 1...1024, got \(batch)") }
        guard (1...1024).contains(seq) else { throw ValidationError("--seq must be in 1...1024 (GPT-2's context), got \(seq)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard ["gpt2", "tiny"].contains(model) else { throw ValidationError("--model must be gpt2 or tiny, got '\(model)'") }
    }

    func run() throws {
        let pool = try ThreadPool(threads: threading.threads)
        var config = model == "gpt2" ? GPTConfig.gpt2
            : GPTConfig(vocabSize: 65, contextLength: 256, embeddingSize: 48, layerCount: 2, headCount: 4)
        config.contextLength = max(config.contextLength, seq)
        try MemoryBudget.require(config.trainingBytes(batch: batch, seq: seq, threads: threading.threads),
                                 for: "a training step of \(batch) × \(seq) tokens")
        let gpt = try GPT(config: config, seed: seed, pool: pool)
        gpt.isTraining = true
        let optimizer = AdamW(layout: gpt.layout, hyper: try TrainingConfig.preset("gpt2-124m").optimizer)
        var rng = SplitMix64(seed: seed)
        let n = batch * seq
        let tokens = (0..<n).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let targets = (0..<n).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }

        var times: [Double] = []
        var loss: Float = 0
        for step in 0..<(steps + 3) {
            let start = DispatchTime.now().uptimeNanoseconds
            gpt.zeroGradients()
            loss = try gpt.forward(tokens: tokens, targets: targets, batch: batch, seq: seq) ?? .nan
            try gpt.backward()
            optimizer.update(gpt, learningRate: 1e-4, maxGradientNorm: 1)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            if step >= 3 { times.append(ms) }
            StandardStreams.error(String(format: "step %d: %.1f ms, loss %.4f\n", step, ms, loss))
        }
        let ms = median(times)
        let tokensPerSecond = Double(n) / (ms / 1000)
        let peak = PeakThroughput.measure(pool: pool)
        let mfu = gpt.trainingFlopsPerToken(seq: seq) * tokensPerSecond / (peak * 1e9)
        let rss = peakRSSMegabytes()
        print("model \(model) (\(gpt.parameterCount / 1_000_000)M parameters), batch \(batch), seq \(seq), threads \(threading.threads)")
        print(String(format: "median %.1f ms/step over %d steps (min %.1f, max %.1f)", ms, times.count,
                     times.min()!, times.max()!))
        print(String(format: "%.0f tokens/s, MFU %.1f%% of a measured %.0f GFLOP/s peak, peak RSS %.0f MB",
                     tokensPerSecond, mfu * 100, peak, rss))
        if json {
            try printJSONLine(["model": model, "batch": batch, "seq": seq, "threads": threading.threads,
                           "ms_per_step": rounded(ms, 2), "tokens_per_sec": rounded(tokensPerSecond, 1),
                           "mfu": rounded(mfu, 4), "peak_rss_mb": rounded(rss, 1), "loss": Double(loss)])
        }
    }
}
