// `gpt bench generate`: decoding and prefill speed of GPT-2 124M (random weights) on
// the KV cache, and decode speed as a fraction of what memory bandwidth allows (one
// token reads every weight once).
import ArgumentParser
import Foundation
import GPTCore
import GPTGeneration
import GPTKernels

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Decode and prefill speed of GPT-2 124M with the KV cache, batch 1, greedy.",
        discussion: """
        Decodes --new-tokens after a --prompt-tokens prompt, and separately prefills --prefill-tokens \
        tokens (logits for the last position only). Memory bandwidth is measured by streaming a 1 GB \
        buffer on the same threads; the bandwidth floor is that bandwidth ÷ the bytes of weights one \
        token reads (all but the position table, in each --dtype).
        Example: gpt bench generate --model gpt2 --json
        Example: gpt bench generate --threads 2 --dtype fp32,bf16,f16,q8_0
        """)

    @Option(help: "Model preset: gpt2 (124M).") var model = "gpt2"
    @Option(help: "Thread counts to measure, comma-separated (default: 1 and all cores).") var threads: String?
    @Option(help: "Prompt length for decoding.") var promptTokens = 16
    @Option(help: "Tokens to decode.") var newTokens = 256
    @Option(help: "Prompt length for the prefill measurement.") var prefillTokens = 1024
    @Option(help: "Decode runs measured after a warm-up; the median is reported, with the min and max.") var repeats = 5
    @Option(help: "Weight formats to measure, comma-separated, the first the baseline of the ratios (fp32, bf16, f16, q8_0).")
    var dtype = "fp32"
    @Flag(help: "Print one JSON object on the last line: the last thread count's figures, every run under results.")
    var json = false

    func validate() throws {
        guard model == "gpt2" else { throw ValidationError("--model must be gpt2, got '\(model)'") }
        guard (1...100).contains(repeats) else { throw ValidationError("--repeats must be in 1...100, got \(repeats)") }
        guard promptTokens >= 1, newTokens >= 2, prefillTokens >= 1 else {
            throw ValidationError("--prompt-tokens and --prefill-tokens must be ≥ 1, --new-tokens ≥ 2")
        }
        guard promptTokens + newTokens <= 1024, prefillTokens <= 1024 else {
            throw ValidationError("prompt + new tokens and --prefill-tokens must fit GPT-2's context of 1024")
        }
        _ = try parseFormats()
    }

    func run() throws {
        let formats = try parseFormats()
        var results: [[String: Any]] = []
        print("threads  dtype  weights MB  prefill(ms)  prefill tok/s  decode tok/s  (min–max of \(repeats))  ms/token  × first  bandwidth GB/s  floor tok/s  of floor  peak RSS MB")
        for t in try parseThreadList(threads) {
            let pool = try ThreadPool(threads: t)
            // Streaming-read bandwidth on the same threads, once per thread count: every dtype's floor uses it.
            let bandwidth = MemoryBandwidth.measure(pool: pool)
            var firstRate: Double?
            for format in formats {
                let gpt = try GPT(config: .gpt2, seed: 1, pool: pool)
                try gpt.useWeights(format)
                var rng = SplitMix64(seed: 2)
                let prompt = (0..<promptTokens).map { _ in Int32(rng.next() % 50257) }
                var options = GenerationOptions()
                options.maxNewTokens = newTokens
                options.sampling = SamplingOptions(temperature: 0)
                let generator = Generator(model: gpt)
                _ = try generator.generate(prompt: prompt, options: options)  // warm-up
                var rates: [Double] = []
                for _ in 0..<repeats {
                    _ = try generator.generate(prompt: prompt, options: options)
                    rates.append(Double(generator.timing.decodeTokens) / generator.timing.decodeSeconds)
                }
                // The median of the runs: one run on a shared two-core machine is noise.
                let decodeRate = median(rates)
                if firstRate == nil { firstRate = decodeRate }

                let session = try InferenceSession(model: gpt, batch: 1)
                let long = (0..<prefillTokens).map { _ in Int32(rng.next() % 50257) }
                let prefillSeconds = medianSeconds(repeats: 3) { session.reset(); _ = try? session.append(long, count: long.count) }
                // One decoded token reads every weight once: the floor is bandwidth ÷ those bytes.
                let weightBytes = Double(gpt.decodeWeightBytes)
                let floor = bandwidth / weightBytes
                let rss = peakRSSMegabytes()
                print(String(format: "%7d  ", t) + format.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)
                      + String(format: "  %10.0f  %11.0f  %13.0f  %12.1f  %9.1f–%-9.1f  %8.2f  %7.2f  %14.1f  %11.1f  %7.0f%%  %11.0f", weightBytes / 1e6, prefillSeconds * 1000, Double(prefillTokens) / prefillSeconds,
                             decodeRate, rates.min()!, rates.max()!, 1000 / decodeRate, decodeRate / firstRate!, bandwidth / 1e9, floor,
                             100 * decodeRate / floor, rss))
                results.append(["threads": t, "dtype": format.rawValue, "weight_bytes": Int(weightBytes),
                                "prefill_tokens": prefillTokens, "prefill_ms": rounded(prefillSeconds * 1000, 1),
                                "decode_tokens_per_sec": rounded(decodeRate, 2), "decode_runs": repeats,
                                "decode_tokens_per_sec_min": rounded(rates.min()!, 2), "decode_tokens_per_sec_max": rounded(rates.max()!, 2),
                                "decode_tokens_per_sec_runs": rates.map { rounded($0, 2) }, "ms_per_token": rounded(1000 / decodeRate, 3),
                                "decode_ratio_to_first": rounded(decodeRate / firstRate!, 3),
                                "peak_rss_mb": rounded(rss, 1), "memory_gb_per_sec": rounded(bandwidth / 1e9, 2),
                                "bandwidth_floor_tokens_per_sec": rounded(floor, 1),
                                "fraction_of_bandwidth_bound": rounded(decodeRate / floor, 3)])
            }
        }
        if json, var last = results.last {
            last["results"] = results
            try printJSONLine(last)
        }
    }

    func parseFormats() throws -> [WeightFormat] {
        let names = dtype.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let formats = names.compactMap(WeightFormat.init(rawValue:))
        guard !names.isEmpty, formats.count == names.count, Set(formats).count == formats.count else {
            throw ValidationError("--dtype must list distinct formats among fp32, bf16, f16, q8_0, got '\(dtype)'")
        }
        return formats
    }
}
