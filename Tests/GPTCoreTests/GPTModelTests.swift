import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels

final class GPTModelTests: XCTestCase {
    static let small = GPTConfig(vocabSize: 37, contextLength: 16, embeddingSize: 32, layerCount: 2, headCount: 4)

    func batch(_ config: GPTConfig, b: Int, t: Int, seed: UInt64) -> (tokens: [Int32], targets: [Int32]) {
        var rng = SplitMix64(seed: seed)
        let tokens = (0..<(b * t)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let targets = (0..<(b * t)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        return (tokens, targets)
    }

    func trainLosses(_ config: GPTConfig, threads: Int, steps: Int, seed: UInt64 = 3) throws -> [Float] {
        let model = try GPT(config: config, seed: seed, pool: ThreadPool(threads: threads))
        model.isTraining = true
        model.dropoutSeed = 11
        let optimizer = AdamW(layout: model.layout)
        let (x, y) = batch(config, b: 3, t: 16, seed: 5)
        var losses: [Float] = []
        for _ in 0..<steps {
            model.zeroGradients()
            losses.append(try XCTUnwrap(try model.forward(tokens: x, targets: y, batch: 3, seq: 16)))
            try model.backward()
            optimizer.update(model, learningRate: 3e-3, maxGradientNorm: 1)
        }
        return losses
    }

    func testTrainingLowersTheLossOnAFixedBatch() throws {
        let losses = try trainLosses(Self.small, threads: 2, steps: 30)
        XCTAssertEqual(Double(losses[0]), log(37), accuracy: 0.2, "initial loss near ln(vocab)")
        XCTAssertLessThan(losses.last!, losses[0] * 0.5)
    }

    /// Every kernel splits work statically and sums in a fixed order, so even the thread count does not change a bit.
    func testTrainingIsBitIdenticalAcrossRunsAndThreadCounts() throws {
        var config = Self.small
        config.embeddingDropout = 0.1; config.attentionDropout = 0.1; config.residualDropout = 0.1
        let one = try trainLosses(config, threads: 1, steps: 4)
        XCTAssertEqual(one, try trainLosses(config, threads: 1, steps: 4))
        XCTAssertEqual(one, try trainLosses(config, threads: 2, steps: 4))
        XCTAssertNotEqual(one, try trainLosses(config, threads: 2, steps: 4, seed: 4))
    }

    /// Whole-model gradient check: the analytic gradient's projection on a random direction
    /// against a central difference of the loss (in Float, so a loose but meaningful bound): learned and
    /// sinusoidal positions, with and without biases, with dropout, with ReLU, with the exact GELU.
    func testModelGradientMatchesDirectionalFiniteDifference() throws {
        for variant in 0..<5 {
            var config = GPTConfig(vocabSize: 11, contextLength: 8, embeddingSize: 16, layerCount: 2, headCount: 2)
            if variant == 1 { config.bias = false; config.positions = .sinusoidal }
            if variant == 2 { config.attentionDropout = 0.2; config.residualDropout = 0.2; config.embeddingDropout = 0.2 }
            if variant == 3 { config.activation = .relu }
            if variant == 4 { config.activation = .geluExact }
            let model = try GPT(config: config, seed: 9, pool: ThreadPool(threads: 2))
            model.isTraining = variant == 2
            let (x, y) = batch(config, b: 2, t: 8, seed: 1)
            func loss() throws -> Double {
                if model.isTraining { model.passCount = 0 }  // same dropout masks every evaluation
                return Double(try XCTUnwrap(try model.forward(tokens: x, targets: y, batch: 2, seq: 8)))
            }
            _ = try loss()
            model.zeroGradients()
            try model.backward()
            var rng = SplitMix64(seed: 2)
            let n = model.layout.count
            let direction = (0..<n).map { _ in Float(rng.nextUnitInterval() * 2 - 1) }
            var analytic = 0.0
            for i in 0..<n { analytic += Double(model.gradients![i]) * Double(direction[i]) }
            let saved = Array(UnsafeBufferPointer(start: model.parameters, count: n))
            func centralDifference(_ h: Float) throws -> Double {
                for i in 0..<n { model.parameters[i] = saved[i] + h * direction[i] }
                let up = try loss()
                for i in 0..<n { model.parameters[i] = saved[i] - h * direction[i] }
                let down = try loss()
                return (up - down) / (2 * Double(h))
            }
            // Richardson extrapolation cancels the h² term of the central difference.
            let numeric = (4 * (try centralDifference(5e-4)) - (try centralDifference(1e-3))) / 3
            // ReLU's kinks make the difference quotient itself uncertain at the 0.5% level.
            let tolerance = config.activation == .relu ? 1e-2 : 1e-3
            XCTAssertEqual(analytic, numeric, accuracy: tolerance * max(1, abs(numeric)), "variant \(variant)")
        }
    }

    func testBadInputsGiveTypedErrors() throws {
        let model = try GPT(config: Self.small, seed: 1, pool: ThreadPool(threads: 1))
        XCTAssertThrowsError(try model.forward(tokens: [Int32](repeating: 0, count: 17), targets: nil, batch: 1, seq: 17)) {
            XCTAssertEqual($0 as? GPTError, .sequenceTooLong(length: 17, contextLength: 16))
        }
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 37], targets: nil, batch: 1, seq: 3)) {
            XCTAssertEqual($0 as? GPTError, .tokenOutOfRange(position: 2, token: 37, vocabSize: 37))
        }
        XCTAssertThrowsError(try model.forward(tokens: [1, 2], targets: nil, batch: 1, seq: 3)) {
            XCTAssertEqual($0 as? GPTError, .shapeMismatch(expected: 3, got: 2, what: "tokens"))
        }
        _ = try model.forward(tokens: [1, 2, 3], targets: nil, batch: 1, seq: 3)
        XCTAssertThrowsError(try model.backward()) { XCTAssertEqual($0 as? GPTError, .backwardWithoutTargets) }
        XCTAssertThrowsError(try GPT(config: GPTConfig(embeddingSize: 10, headCount: 3), pool: ThreadPool(threads: 1)))
    }

    /// Issue 12, finding 8: a state.json with pass_count 2⁶⁴ − 1 trapped on --resume (overflow in forward).
    func testPassCountFromAFileWrapsInsteadOfTrapping() throws {
        var config = Self.small
        config.residualDropout = 0.1
        let model = try GPT(config: config, seed: 3, pool: ThreadPool(threads: 1))
        model.isTraining = true
        model.passCount = .max
        let (x, y) = batch(config, b: 1, t: 8, seed: 2)
        let loss = try XCTUnwrap(try model.forward(tokens: x, targets: y, batch: 1, seq: 8))
        XCTAssert(loss.isFinite)
        XCTAssertEqual(model.passCount, 0)
        try model.backward()
        XCTAssertTrue(model.gradientNorm().isFinite)
        // The optimizer's step count, from the same file, saturates instead of trapping.
        let optimizer = AdamW(layout: model.layout)
        optimizer.step = .max
        optimizer.update(model, learningRate: 1e-3)
        XCTAssertEqual(optimizer.step, .max)
        XCTAssertTrue(model.parametersAreFinite)
    }

    func testIgnoredTargetsDoNotCountInTheMean() throws {
        let model = try GPT(config: Self.small, seed: 1, pool: ThreadPool(threads: 1))
        let tokens: [Int32] = [1, 2, 3, 4]
        let all = try XCTUnwrap(try model.forward(tokens: tokens, targets: [5, 6, 7, 8], batch: 1, seq: 4))
        let logits = Array(model.logits)
        let two = try XCTUnwrap(try model.forward(tokens: tokens, targets: [5, -1, 7, -1], batch: 1, seq: 4))
        func ce(_ row: Int, _ target: Int) -> Double {
            let x = logits[(row * 37)..<(row * 37 + 37)].map(Double.init)
            let m = x.max()!
            return m + log(x.reduce(0) { $0 + exp($1 - m) }) - x[target]
        }
        XCTAssertEqual(Double(all), (ce(0, 5) + ce(1, 6) + ce(2, 7) + ce(3, 8)) / 4, accuracy: 1e-5)
        XCTAssertEqual(Double(two), (ce(0, 5) + ce(2, 7)) / 2, accuracy: 1e-5)
    }

    func testGPT2InitialisationScalesResidualProjections() throws {
        let config = GPTConfig(vocabSize: 500, contextLength: 64, embeddingSize: 64, layerCount: 8, headCount: 4)
        let model = try GPT(config: config, seed: 42, pool: ThreadPool(threads: 1))
        func std(_ name: String) -> Double {
            let v = Array(model.parameter(name)!).map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
        }
        XCTAssertEqual(std("wte.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("h.3.mlp.c_fc.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("h.3.mlp.c_proj.weight"), 0.02 / 4, accuracy: 0.0003)
        XCTAssertEqual(std("h.0.attn.c_proj.weight"), 0.02 / 4, accuracy: 0.0005)
        XCTAssertEqual(Array(model.parameter("h.0.ln_1.weight")!), [Float](repeating: 1, count: 64))
        XCTAssertEqual(Array(model.parameter("h.0.attn.c_attn.bias")!), [Float](repeating: 0, count: 192))
        let same = try GPT(config: config, seed: 42, pool: ThreadPool(threads: 2))
        XCTAssertEqual(Array(model.parameter("wte.weight")!), Array(same.parameter("wte.weight")!))
    }
}
