// `gpt bench translate-step`: the encoder–decoder's training step (forward, backward, AdamW) on a
// random batch of source and target tokens, and its cached decoding (one row, then several beams),
// so the translation benchmark can be sized. Medians over timed steps after one warm-up step.
import ArgumentParser
import Foundation
import GPTCore
import GPTKernels

struct BenchTranslateStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate-step",
        abstract: "Time the encoder–decoder Transformer's training step and cached decoding step.",
        discussion: """
        The model is translate-small's shape by default (6 + 6 layers of 256, 4 heads, d_ff 1024, \
        vocabulary 8000). Batches hold --rows pairs whose lengths spread over ¾…1 of --length, as a \
        length-grouped batch has them. Benchmarks/seq2seq_step_torch.py times the same step in PyTorch.
        Example: gpt bench translate-step --rows 128 --length 32 --json
        """)

    @Option(help: "Pairs per batch.") var rows = 128
    @Option(help: "Longest source and target length in tokens.") var length = 32
    @Option(help: "Layers in each of the encoder and decoder.") var layers = 6
    @Option(help: "Model width (d_model).") var width = 256
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Vocabulary size.") var vocab = 8000
    @Option(help: "Beams for the decoding measurement.") var beams = 4
    @OptionGroup var threading: ThreadOptions
    @Option(help: "Timed training steps after one warm-up step (the median is reported).") var steps = 4
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard (1...4096).contains(rows) else { throw ValidationError("--rows must be in 1...4096, got \(rows)") }
        guard (4...1024).contains(length) else { throw ValidationError("--length must be in 4...1024, got \(length)") }
        guard (1...48).contains(layers) else { throw ValidationError("--layers must be in 1...48, got \(layers)") }
        guard (1...64).contains(heads), (heads...8192).contains(width), width % heads == 0 else {
            throw ValidationError("--width must be a multiple of --heads (1...64 heads, width up to 8192), got \(width) and \(heads)")
        }
        guard (8...1_000_000).contains(vocab) else { throw ValidationError("--vocab must be in 8...1000000, got \(vocab)") }
        guard (1...64).contains(beams) else { throw ValidationError("--beams must be in 1...64, got \(beams)") }
        guard (1...100).contains(steps) else { throw ValidationError("--steps must be in 1...100, got \(steps)") }
    }

    func run() throws {
        let pool = try ThreadPool(threads: threading.threads)
        let config = Seq2SeqConfig(vocabSize: vocab, modelSize: width, headCount: heads, feedForwardSize: 4 * width,
                                   encoderLayerCount: layers, decoderLayerCount: layers, dropout: 0.1, maxPositions: max(256, length + 1))
        let model = try Seq2SeqTransformer(config: config, seed: 1, pool: pool)
        model.isTraining = true
        let optimizer = AdamW(count: model.layout.count, hyper: AdamWHyperparameters(beta1: 0.9, beta2: 0.98, eps: 1e-9, weightDecay: 0))
        var rng = SplitMix64(seed: 2)
        let ids = UInt64(vocab - 3)
        let pairs = (0..<rows).map { _ -> (source: [Int32], target: [Int32]) in
            let s = length * 3 / 4 + Int(rng.next() % UInt64(length / 4 + 1))
            let t = length * 3 / 4 + Int(rng.next() % UInt64(length / 4))
            return ((0..<s).map { _ in Int32(3 + rng.next() % ids) }, (0..<t).map { _ in Int32(3 + rng.next() % ids) })
        }
        let batch = Seq2SeqBatch(pairs: pairs, pad: 0, bos: 1, eos: 2)
        var forward: [Double] = [], total: [Double] = []
        for step in 0...steps {
            let start = DispatchTime.now().uptimeNanoseconds
            model.zeroGradients()
            guard let loss = try model.forward(batch), loss.isFinite else { throw CommandError("the training step's loss is not finite") }
            let middle = DispatchTime.now().uptimeNanoseconds
            try model.backward()
            model.step(optimizer, learningRate: 1e-4, maxGradientNorm: 1)
            let end = DispatchTime.now().uptimeNanoseconds
            if step >= 1 { forward.append(Double(middle - start) / 1e6); total.append(Double(end - start) / 1e6) }
        }
        let stepMs = median(total), forwardMs = median(forward)
        let sourceTokens = batch.sourceLengths.reduce(0) { $0 + Int($1) }, targetTokens = batch.targetTokenCount

        // Decoding: one source of 30 tokens encoded once, then 40 steps of one row and of `beams` rows.
        model.isTraining = false
        let source = (0..<min(30, length)).map { _ in Int32(3 + rng.next() % ids) }
        var decoding: [(rows: Int, encodeMs: Double, stepMs: Double)] = []
        for live in Set([1, beams]).sorted() {
            let start = DispatchTime.now().uptimeNanoseconds
            let memory = try model.encode(sources: [source])
            let encoded = DispatchTime.now().uptimeNanoseconds
            let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: [Int](repeating: 0, count: live), maxLength: 40)
            var tokens = [Int32](repeating: 1, count: live)
            for _ in 0..<40 {
                let logits = try decoder.step(tokens: tokens)
                guard logits[0].isFinite else { throw CommandError("a decoding step's logits are not finite") }
                tokens = (0..<live).map { _ in Int32(3 + rng.next() % ids) }
            }
            let end = DispatchTime.now().uptimeNanoseconds
            decoding.append((live, Double(encoded - start) / 1e6, Double(end - encoded) / 1e6 / 40))
        }

        print(String(format: "encoder–decoder %d+%d × d%d, d_ff %d, vocab %d, %d threads: batch %d × (S %d, T %d) = %d source + %d target tokens: "
                     + "median step %.0f ms (forward %.0f ms), %.0f target tokens/s",
                     layers, layers, width, 4 * width, vocab, pool.threadCount, rows, batch.sourceLength, batch.targetLength,
                     sourceTokens, targetTokens, stepMs, forwardMs, Double(targetTokens) / (stepMs / 1000)))
        for d in decoding {
            print(String(format: "decoding %d row(s): encode %d tokens %.1f ms, %.2f ms per step over 40 steps", d.rows, source.count, d.encodeMs, d.stepMs))
        }
        if json {
            try printJSONLine(["rows": rows, "length": length, "threads": pool.threadCount, "source_tokens": sourceTokens,
                               "target_tokens": targetTokens, "ms_per_step": rounded(stepMs, 2), "forward_ms": rounded(forwardMs, 2),
                               "target_tokens_per_sec": rounded(Double(targetTokens) / (stepMs / 1000), 1),
                               "decode_ms_per_step": Dictionary(uniqueKeysWithValues: decoding.map { ("\($0.rows)", rounded($0.stepMs, 3)) }),
                               "peak_rss_mb": rounded(peakRSSMegabytes(), 1)])
        }
    }
}
