import Foundation
import XCTest
import GPTCore
import GPTKernels

/// Scratch memory belongs to whoever runs a model (GEMM's packing buffers live in the thread
/// pool), so two models on two pools can run at once from different threads.
final class ConcurrentModelsTests: XCTestCase {
    static let config = GPTConfig(vocabSize: 301, contextLength: 32, embeddingSize: 64, layerCount: 2, headCount: 2)

    /// Training steps (large GEMMs, split by rows and by columns) and cached decoding (the skinny
    /// path): every loss, gradient norm and logit, as bit patterns.
    static func work(seed: UInt64) throws -> [UInt32] {
        let model = try GPT(config: config, seed: seed, pool: ThreadPool(threads: 2))
        let optimizer = AdamW(layout: model.layout)
        var rng = SplitMix64(seed: seed &+ 100)
        let (b, t) = (4, 32)
        let tokens = (0..<(b * t)).map { _ in Int32(rng.next() % 301) }
        let targets = (0..<(b * t)).map { _ in Int32(rng.next() % 301) }
        var out: [UInt32] = []
        for _ in 0..<3 {
            model.zeroGradients()
            out.append(try model.forward(tokens: tokens, targets: targets, batch: b, seq: t)!.bitPattern)
            try model.backward()
            out.append(Float(model.gradientNorm()).bitPattern)
            _ = optimizer.update(model, learningRate: 1e-3, maxGradientNorm: 1)
        }
        let session = try InferenceSession(model: model, batch: 2)
        var logits = Array(try session.append(Array(tokens[0..<16]), count: 8))
        for step in 0..<20 {
            out += logits.map(\.bitPattern)
            logits = Array(try session.append([Int32(step), Int32(step + 1)], count: 1))
        }
        return out
    }

    func testTwoModelsOnTwoThreadsMatchRunningThemInTurn() throws {
        let expected = [try Self.work(seed: 1), try Self.work(seed: 2)]
        XCTAssertNotEqual(expected[0], expected[1])
        for _ in 0..<3 {
            let box = Results()
            let done = DispatchSemaphore(value: 0)
            for i in 0..<2 {
                let thread = Thread {
                    do {
                        let r = try Self.work(seed: UInt64(i + 1))
                        box.set { $0.results[i] = r }
                    } catch {
                        box.set { $0.failures.append("\(error)") }
                    }
                    done.signal()
                }
                thread.start()
            }
            done.wait(); done.wait()
            let (results, failures) = (box.results, box.failures)
            XCTAssertEqual(failures, [])
            XCTAssert(results[0] == expected[0], "model 1 differs when run beside model 2")
            XCTAssert(results[1] == expected[1], "model 2 differs when run beside model 1")
        }
    }
}

/// What the two threads report, behind a lock.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    var results: [[UInt32]?] = [nil, nil]
    var failures: [String] = []
    func set(_ change: (Results) -> Void) { lock.lock(); change(self); lock.unlock() }
}
