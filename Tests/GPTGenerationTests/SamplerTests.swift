import XCTest
import GPTCore
import GPTGeneration
import GPTKernels

final class SamplerTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, 0.5, 2.5, -1.0, 2.9, 0.0, 1.5]

    func draws(_ options: SamplingOptions, count: Int = 20_000, history: [Int32] = []) -> [Int] {
        var sampler = Sampler(options: options)
        var rng = SplitMix64(seed: 5)
        var counts = [Int](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { l in
            for _ in 0..<count { counts[Int(sampler.next(l, history: history, rng: &rng))] += 1 }
        }
        return counts
    }

    func testTopKNeverEmitsOutsideTheKLargest() {
        let counts = draws(SamplingOptions(temperature: 1.5, topK: 3))
        XCTAssertEqual(Set(counts.indices.filter { counts[$0] > 0 }), [1, 5, 3])
    }

    func testTopPKeepsTheSmallestSetReachingItsMass() {
        // Softmax of the logits: token 1 ≈ 0.332, 5 ≈ 0.300, 3 ≈ 0.201, 7 ≈ 0.074 …: p = 0.6 needs {1, 5}.
        let counts = draws(SamplingOptions(topP: 0.6))
        XCTAssertEqual(Set(counts.indices.filter { counts[$0] > 0 }), [1, 5])
        // Within the nucleus, frequencies follow the renormalised probabilities (±4σ).
        let p1 = exp(3.0) / (exp(3.0) + exp(2.9))
        XCTAssertEqual(Double(counts[1]) / 20_000, p1, accuracy: 4 * (p1 * (1 - p1) / 20_000).squareRoot())
    }

    func testSamplingFrequenciesFollowTheSoftmax() {
        let counts = draws(SamplingOptions())
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for i in logits.indices {
            let p = exp(Double(logits[i])) / z
            XCTAssertEqual(Double(counts[i]) / 20_000, p, accuracy: 4 * (p * (1 - p) / 20_000).squareRoot() + 1e-4, "token \(i)")
        }
    }

    func testZeroTemperatureIsGreedyAndLowTemperatureApproachesIt() {
        XCTAssertEqual(draws(SamplingOptions(temperature: 0), count: 100)[1], 100)
        XCTAssertEqual(draws(SamplingOptions(temperature: 0.01), count: 1000)[1], 1000)
    }

    func testRepetitionPenaltyDemotesTokensAlreadySeen() {
        // Token 1 (3.0) divided by 2 → 1.5; token 5 (2.9) becomes the greedy choice.
        XCTAssertEqual(draws(SamplingOptions(temperature: 0, repetitionPenalty: 2), count: 10, history: [1])[5], 10)
    }

    func testPresenceAndFrequencyPenaltiesFollowOpenAIsDefinitionOnGeneratedTokensOnly() {
        var sampler = Sampler(options: SamplingOptions(temperature: 0, presencePenalty: 0.05, frequencyPenalty: 0.04))
        var rng = SplitMix64(seed: 1)
        logits.withUnsafeBufferPointer { l in
            // Token 1 (3.0) generated twice: 3.0 − 2 × 0.04 − 0.05 = 2.87 < 2.9, so token 5 wins.
            XCTAssertEqual(sampler.next(l, history: [1, 1], rng: &rng), 5)
            // Once: 3.0 − 0.04 − 0.05 = 2.91 > 2.9, token 1 still wins.
            XCTAssertEqual(sampler.next(l, history: [1], rng: &rng), 1)
            // Tokens of the prompt do not count.
            XCTAssertEqual(sampler.next(l, history: [1, 1], promptLength: 2, rng: &rng), 1)
        }
    }

    func testASamplerReusedAcrossTokensDrawsWhatAFreshSamplerDrawsEachTime() {
        // The sampler keeps its vocabulary-sized working arrays between calls; nothing of one call
        // may leak into the next (a top-k cut, a nucleus, penalised scores, a different row).
        var seed = SplitMix64(seed: 9)
        let rows: [[Float]] = (0..<40).map { _ in (0..<50).map { _ in Float(seed.nextUnitInterval() * 8 - 4) } }
        let settings = [SamplingOptions(), SamplingOptions(temperature: 0.7, topK: 5), SamplingOptions(topP: 0.5),
                        SamplingOptions(temperature: 1.3, topK: 20, topP: 0.9, repetitionPenalty: 1.4),
                        SamplingOptions(temperature: 0, presencePenalty: 0.5, frequencyPenalty: 0.3),
                        SamplingOptions(temperature: 0)]
        for options in settings {
            var reused = Sampler(options: options)
            var rngReused = SplitMix64(seed: 3), rngFresh = SplitMix64(seed: 3)
            var history: [Int32] = [1, 2]
            for row in rows {
                row.withUnsafeBufferPointer { l in
                    var fresh = Sampler(options: options)
                    let a = reused.next(l, history: history, rng: &rngReused), b = fresh.next(l, history: history, rng: &rngFresh)
                    XCTAssertEqual(a, b, "\(options)")
                    history.append(a)
                }
            }
        }
    }

    func testInvalidOptionsAreNamed() {
        for (options, name) in [(SamplingOptions(temperature: -1), "temperature"), (SamplingOptions(topK: 0), "top-k"),
                                (SamplingOptions(topP: 0), "top-p"), (SamplingOptions(topP: 1.5), "top-p"),
                                (SamplingOptions(repetitionPenalty: 0), "repetition-penalty"),
                                (SamplingOptions(presencePenalty: 2.5), "presence-penalty"),
                                (SamplingOptions(frequencyPenalty: -3), "frequency-penalty")] {
            XCTAssertThrowsError(try options.validate()) { XCTAssert("\($0)".contains(name), "\($0)") }
        }
    }
}

final class GeneratorTests: XCTestCase {
    func model() throws -> GPT {
        try GPT(config: GPTConfig(vocabSize: 29, contextLength: 12, embeddingSize: 32, layerCount: 2, headCount: 2),
                seed: 3, pool: ThreadPool(threads: 2))
    }

    /// Greedy generation with the cache, past the context length (so the window slides), equals
    /// greedy generation by recomputing each prefix's last n_positions tokens.
    func testGreedyGenerationMatchesRecomputationAcrossTheSlide() throws {
        let gpt = try model()
        var options = GenerationOptions()
        options.maxNewTokens = 30
        options.sampling = SamplingOptions(temperature: 0)
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let generated = try Generator(model: gpt).generate(prompt: prompt, options: options)[0]
        var sequence = prompt
        for _ in 0..<30 {
            let window = Array(sequence.suffix(12))
            try gpt.forward(tokens: window, targets: nil, batch: 1, seq: window.count)
            let last = Array(gpt.logits.suffix(29))
            sequence.append(Int32(last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!))
        }
        XCTAssertEqual(generated, Array(sequence.dropFirst(5)))
    }

    /// The window rule past the context, on a trained model (peaked attention, so a dropped token
    /// matters). The generator's rule: while the tokens fit, all of them; after that, when the cache is
    /// full it is rebuilt from the last n_positions − 1 tokens, so the next token is read from n − 1
    /// tokens, the one after from n (the rebuilt n − 1 plus one), and so on alternately. nanoGPT instead
    /// reads every token from the last block_size = n. Each greedy token must be the argmax of the logits
    /// recomputed under the generator's rule with a clear gap to the runner-up (not a tie broken by
    /// rounding); how often nanoGPT's rule would choose differently is printed.
    func testGreedyTokensFollowTheGeneratorsWindowRuleOnATrainedModel() throws {
        let gpt = try model()
        let n = gpt.config.contextLength, v = gpt.config.vocabSize
        var rng = SplitMix64(seed: 8)
        let text = (0..<23).map { _ in Int32(rng.next() % UInt64(v)) }
        let corpus = Array(repeating: text, count: 8).flatMap { $0 }
        let optimizer = AdamW(layout: gpt.layout)
        gpt.isTraining = true
        for _ in 0..<80 {
            let starts = (0..<8).map { _ in Int(rng.next() % UInt64(corpus.count - n - 1)) }
            gpt.zeroGradients()
            try gpt.forward(tokens: starts.flatMap { corpus[$0..<($0 + n)] }, targets: starts.flatMap { corpus[($0 + 1)...($0 + n)] },
                            batch: 8, seq: n)
            try gpt.backward()
            optimizer.update(gpt, learningRate: 1e-2)
        }
        var options = GenerationOptions()
        options.maxNewTokens = 30
        options.sampling = SamplingOptions(temperature: 0)
        let prompt = Array(text.prefix(5))
        let generated = try Generator(model: gpt).generate(prompt: prompt, options: options)[0]
        XCTAssertEqual(generated.count, 30)
        func lastLogits(_ window: [Int32]) throws -> [Float] {
            try gpt.forward(tokens: window, targets: nil, batch: 1, seq: window.count)
            return Array(gpt.logits.suffix(v))
        }
        var minGap = Float.infinity, disagreements = 0, maxRuleDifference = 0.0
        for k in 0..<generated.count {
            let history = prompt + generated[..<k]
            let length = history.count
            let window = length <= n ? history[...] : history.suffix((length - n) % 2 == 1 ? n - 1 : n)
            let logits = try lastLogits(Array(window))
            XCTAssert(logits.allSatisfy(\.isFinite), "step \(k): non-finite logits")
            let order = logits.indices.sorted { logits[$0] > logits[$1] }
            XCTAssertEqual(Int32(order[0]), generated[k], "step \(k): the generator's token is not the argmax under its window rule")
            minGap = min(minGap, logits[order[0]] - logits[order[1]])
            let nanoGPT = try lastLogits(Array(history.suffix(n)))
            maxRuleDifference = max(maxRuleDifference, zip(logits, nanoGPT).map { Double(abs($0 - $1)) }.max()!)
            if nanoGPT.indices.max(by: { nanoGPT[$0] < nanoGPT[$1] }) != order[0] { disagreements += 1 }
        }
        XCTAssertGreaterThan(minGap, 1e-3, "a greedy choice was a near-tie, so agreement could be by rounding")
        print("window rule: smallest top-1 gap \(minGap); nanoGPT's last-n rule changes logits by up to \(maxRuleDifference) "
              + "and the greedy token at \(disagreements) of 30 steps")
    }

    func testSeedFixesSamplesAndStopTokensEndThem() throws {
        let gpt = try model()
        var options = GenerationOptions()
        options.maxNewTokens = 20
        let a = try Generator(model: gpt).generate(prompt: [7], samples: 3, options: options)
        XCTAssertEqual(a, try Generator(model: gpt).generate(prompt: [7], samples: 3, options: options))
        XCTAssertEqual(a.map(\.count), [20, 20, 20])
        XCTAssertNotEqual(a[0], a[1], "samples draw independently")
        options.stopTokens = [a[0][4]]
        let stopped = try Generator(model: gpt).generate(prompt: [7], samples: 1, options: options)[0]
        XCTAssertEqual(stopped, Array(a[0].prefix(while: { $0 != a[0][4] })))
        options.stopTokens = []
        var seen = 0
        _ = try Generator(model: gpt).generate(prompt: [7], options: options) { _, _ in seen += 1; return seen < 3 }
        XCTAssertEqual(seen, 3, "returning false from onToken ends the sample")
    }
}
