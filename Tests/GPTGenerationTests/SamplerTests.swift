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

    func testInvalidOptionsAreNamed() {
        for (options, name) in [(SamplingOptions(temperature: -1), "temperature"), (SamplingOptions(topK: 0), "top-k"),
                                (SamplingOptions(topP: 0), "top-p"), (SamplingOptions(topP: 1.5), "top-p"),
                                (SamplingOptions(repetitionPenalty: 0), "repetition-penalty")] {
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
