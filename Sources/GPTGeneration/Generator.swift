// Autoregressive generation on a KV cache: prefill the prompt once, then feed each
// sampled token back one step at a time. Several samples of one prompt advance
// together as a batch. When a sequence fills the context, the cache is rebuilt from
// its last n_positions − 1 tokens (nanoGPT crops the same way).
import Foundation
import GPTCore
import GPTKernels

public struct GenerationOptions: Sendable {
    public var maxNewTokens = 256
    public var sampling = SamplingOptions()
    public var seed: UInt64 = 1337
    /// Tokens that end a sample (not included in it), e.g. `<|endoftext|>`.
    public var stopTokens: Set<Int32> = []

    public init() {}
}

/// Speed of the last `generate`.
public struct GenerationTiming: Sendable {
    public var prefillTokens = 0
    public var prefillSeconds = 0.0
    public var decodeTokens = 0
    public var decodeSeconds = 0.0
}

public final class Generator {
    public let model: GPT
    public private(set) var timing = GenerationTiming()

    public init(model: GPT) { self.model = model }

    /// Generates `samples` continuations of `prompt` (non-empty, at most n_positions tokens).
    /// `onToken(sample, token)` sees every new token as it is made; returning false ends that
    /// sample. `onLogits(sample, logits)`, if given, sees each active sample's raw logits ([V],
    /// before the sampling chain) just before its next token is drawn (a server's logprobs read them).
    /// Returns the new tokens of each sample.
    public func generate(prompt: [Int32], samples: Int = 1, options: GenerationOptions,
                         onLogits: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil,
                         onToken: (Int, Int32) -> Bool = { _, _ in true }) throws -> [[Int32]] {
        try options.sampling.validate()
        let context = model.config.contextLength
        guard !prompt.isEmpty, prompt.count <= context else {
            throw GPTError.sequenceTooLong(length: prompt.count, contextLength: context)
        }
        model.isTraining = false
        let session = try InferenceSession(model: model, batch: samples)
        var sequences = [[Int32]](repeating: prompt, count: samples)  // prompt and sampled tokens
        var fed = sequences  // what the cache holds: a finished sample keeps repeating its last token
        var outputs = [[Int32]](repeating: [], count: samples)
        var active = [Bool](repeating: true, count: samples)
        var samplers = [Sampler](repeating: Sampler(options: options.sampling), count: samples)
        // The distinct tokens of each sequence, kept as they come (the repetition penalty reads them).
        let v = model.config.vocabSize
        let penalize = options.sampling.repetitionPenalty != 1
        var present = [[Int32]](repeating: penalize ? Array(Set(prompt)) : [], count: samples)
        var isPresent = [[Bool]](repeating: [], count: penalize ? samples : 0)
        for s in isPresent.indices {
            isPresent[s] = [Bool](repeating: false, count: v)
            for t in present[s] where t >= 0 && Int(t) < v { isPresent[s][Int(t)] = true }
        }
        // How often each sample generated each token (the presence and frequency penalties read it).
        let count = options.sampling.countsOccurrences
        var generated = [[Int32: Int]](repeating: [:], count: samples)
        var rngs = (0..<samples).map { SplitMix64(seed: options.seed &+ UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
        timing = GenerationTiming()

        var start = DispatchTime.now().uptimeNanoseconds
        var logits = try session.append(fed.flatMap { $0 }, count: prompt.count)
        timing.prefillTokens = prompt.count
        timing.prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<options.maxNewTokens where active.contains(true) {
            var next = [Int32](repeating: 0, count: samples)
            for s in 0..<samples {
                let row = UnsafeBufferPointer(rebasing: logits[(s * v)..<((s + 1) * v)])
                if active[s] { onLogits?(s, row) }
                next[s] = active[s] ? samplers[s].next(row, present: present[s], generated: generated[s], rng: &rngs[s]) : sequences[s].last!
                guard active[s] else { continue }
                sequences[s].append(next[s])
                if penalize && !isPresent[s][Int(next[s])] { isPresent[s][Int(next[s])] = true; present[s].append(next[s]) }
                if count { generated[s][next[s], default: 0] += 1 }
                if options.stopTokens.contains(next[s]) { active[s] = false; continue }
                outputs[s].append(next[s])
                if !onToken(s, next[s]) { active[s] = false }
            }
            guard active.contains(true), outputs.contains(where: { $0.count < options.maxNewTokens }) else { break }
            for s in 0..<samples { fed[s].append(next[s]) }
            if session.length == context {
                // Slide: rebuild the cache from the last n_positions − 1 tokens of each sequence.
                session.reset()
                // (A one-token context keeps just the newest token.)
                let window = max(1, context - 1)
                logits = try session.append(fed.flatMap { $0.suffix(window) }, count: window)
            } else {
                logits = try session.append(next, count: 1)
            }
            timing.decodeTokens += samples
        }
        timing.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return outputs
    }
}
