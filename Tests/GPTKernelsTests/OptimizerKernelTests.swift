import XCTest
import GPTKernels

final class OptimizerKernelTests: XCTestCase {
    /// torch.optim.AdamW's single-tensor update written out in Double.
    func testAdamWMatchesPyTorchFormulaOverSeveralSteps() throws {
        var rng = TestRandom(20)
        let n = 53
        var p = rng.floats(n), m = [Float](repeating: 0, count: n), v = m
        var pd = p.doubles, md = [Double](repeating: 0, count: n), vd = md
        let hyper = AdamWHyperparameters(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let lr: Float = 1e-2
        for step in 1...4 {
            let g = rng.floats(n, scale: 0.1)
            AdamWKernel.update(params: &p, grads: g, m: &m, v: &v, count: n, learningRate: lr, hyper: hyper, decay: step != 2,
                               step: step, pool: try ThreadPool(threads: 2))
            let wd = step != 2 ? 0.1 : 0
            let b1 = Double(hyper.beta1), b2 = Double(hyper.beta2)
            for i in 0..<n {
                pd[i] *= 1 - Double(lr) * wd
                md[i] = b1 * md[i] + (1 - b1) * Double(g[i])
                vd[i] = b2 * vd[i] + (1 - b2) * Double(g[i]) * Double(g[i])
                let denom = (vd[i] / (1 - pow(b2, Double(step)))).squareRoot() + 1e-8
                pd[i] -= Double(lr) / (1 - pow(b1, Double(step))) * md[i] / denom
            }
            assertClose(p, pd, tolerance: 1e-6, "params after step \(step)")
            assertClose(m, md, tolerance: 1e-7, "first moment after step \(step)")
        }
    }

    func testSumOfSquaresIsIndependentOfThreadCount() throws {
        var rng = TestRandom(21)
        let x = rng.floats(100_003)
        let one = Reduction.sumOfSquares(x, count: x.count, pool: try ThreadPool(threads: 1))
        let two = Reduction.sumOfSquares(x, count: x.count, pool: try ThreadPool(threads: 2))
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, x.reduce(0.0) { $0 + Double($1) * Double($1) }, accuracy: 1e-6 * one)  // lanes accumulate in Float
    }

    func testDropoutKeepsExpectedFractionScalesAndIsReproducible() throws {
        let n = 200_000, p: Float = 0.3
        let x = [Float](repeating: 1, count: n)
        var a = [Float](repeating: 0, count: n), b = a
        Dropout.forward(out: &a, inp: x, count: n, probability: p, key: 99, pool: try ThreadPool(threads: 1))
        Dropout.forward(out: &b, inp: x, count: n, probability: p, key: 99, pool: try ThreadPool(threads: 2))
        XCTAssertEqual(a, b, "mask must not depend on the thread split")
        let kept = a.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / Double(n), 0.7, accuracy: 0.005)  // ±5σ
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
        var c = a
        Dropout.forward(out: &c, inp: x, count: n, probability: p, key: 100, pool: try ThreadPool(threads: 1))
        XCTAssertNotEqual(a, c, "a different key draws a different mask")
        var grad = [Float](repeating: 0, count: n)
        Dropout.backward(dinp: &grad, dout: x, count: n, probability: p, key: 99, pool: try ThreadPool(threads: 2))
        XCTAssertEqual(grad, a, "backward uses the forward's mask")
    }

    /// Issue 12, finding 10: `--threads 9223372036854775807` started threads until memory ran out, and a
    /// worker that failed to start (pids or address-space limit) left the pool waiting forever.
    func testThreadPoolRefusesAbsurdSizesAndReportsWorkersThatFailToStart() throws {
        for threads in [0, -1, ThreadPool.maxThreads + 1, Int.max] {
            XCTAssertThrowsError(try ThreadPool(threads: threads)) {
                XCTAssertEqual($0 as? ThreadPoolError, .invalidThreadCount(requested: threads, limit: ThreadPool.maxThreads))
            }
        }
        XCTAssertLessThanOrEqual(ThreadPool.maxThreads, 1024)
        // A stack no address space can hold makes pthread_create (or its attributes) fail, as a limit would.
        XCTAssertThrowsError(try ThreadPool(threads: 2, stackSize: 1 << 62)) {
            guard case let .startFailed(requested, started, _)? = $0 as? ThreadPoolError else { return XCTFail("\($0)") }
            XCTAssertEqual(requested, 2)
            XCTAssertEqual(started, 1, "only the calling thread")
            XCTAssert("\($0)".contains("only 1 of 2 threads"), "\($0)")
        }
        // A pool of the largest allowed size starts and runs.
        let pool = try ThreadPool(threads: ThreadPool.maxThreads)
        var seen = [Int](repeating: 0, count: pool.threadCount)
        seen.withUnsafeMutableBufferPointer { s in pool.run { s[$0] += 1 } }
        XCTAssertEqual(seen, [Int](repeating: 1, count: pool.threadCount))
    }

    func testThreadPoolCoversEveryIndexOnce() throws {
        let pool = try ThreadPool(threads: 2)
        for count in [1, 2, 3, 17, 1000] {
            for granule in [1, 16] {
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { h in
                    pool.parallelFor(count, granule: granule) { range in for i in range { h[i] += 1 } }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: count), "count \(count) granule \(granule)")
            }
        }
    }

    func testClaimingThreadPoolCoversEveryIndexOnceInGranuleAlignedRanges() throws {
        for threads in [1, 2, 3] {
            let pool = try ThreadPool(threads: threads)
            for count in [1, 7, 33, 65, 1000] {
                for granule in [1, 16, 64] {
                    // Twice in a row: the claim counter must start again from zero.
                    for _ in 0..<2 {
                        var hits = [Int](repeating: 0, count: count)
                        var misaligned = [Int](repeating: 0, count: threads)
                        hits.withUnsafeMutableBufferPointer { h in misaligned.withUnsafeMutableBufferPointer { bad in
                            pool.parallelForClaiming(count, granule: granule) { range, worker in
                                if range.lowerBound % granule != 0 || (range.upperBound % granule != 0 && range.upperBound != count) {
                                    bad[worker] += 1
                                }
                                for i in range { h[i] += 1 }
                            }
                        }}
                        XCTAssertEqual(hits, [Int](repeating: 1, count: count), "threads \(threads) count \(count) granule \(granule)")
                        XCTAssertEqual(misaligned.reduce(0, +), 0, "ranges not on granule bounds")
                    }
                }
            }
        }
    }
}

final class ThreadPoolClaimingTests: XCTestCase {
    /// Regions follow each other without a pause (a training step's pattern), with tasks of uneven
    /// length: a worker that is still finishing one region, or wakes after it has ended, must never
    /// run a task of the next region twice or skip one (the ticket carries the region's generation).
    func testBackToBackRegionsRunEveryTaskExactlyOnce() throws {
        for threads in [2, 3, 8] {
            let pool = try ThreadPool(threads: threads)
            var hits = [Int](repeating: 0, count: 4096)
            for round in 0..<2_000 {
                let count = 1 + (round * 37) % 61
                hits.withUnsafeMutableBufferPointer { h in
                    pool.parallelFor(count) { range, _ in
                        for i in range {
                            if i % 7 == 0 { var x = 0.0; for k in 0..<200 { x += Double(k) }; if x < 0 { return } }
                            h[(round % 64) * 64 + i] += 1
                        }
                    }
                }
            }
            // Every (round % 64, i < count) cell was hit once per round that used it.
            var expected = [Int](repeating: 0, count: 4096)
            for round in 0..<2_000 { for i in 0..<(1 + (round * 37) % 61) { expected[(round % 64) * 64 + i] += 1 } }
            XCTAssertEqual(hits, expected, "threads \(threads)")
        }
    }

    /// A pool with more threads than cores (threads paused by the system for whole time slices, as
    /// with a busy neighbour) still gives bit-identical kernel results to a one-thread pool.
    func testOversubscribedPoolGivesTheSameBitsAsOneThread() throws {
        var rng = TestRandom(31)
        let (b, t, c, nh) = (3, 29, 96, 3)
        let qkv = rng.floats(b * t * 3 * c), dy = rng.floats(b * t * c)
        func run(_ pool: ThreadPool) -> ([Float], [Float]) {
            var out = [Float](repeating: 0, count: b * t * c), att = [Float](repeating: 0, count: b * nh * t * t)
            var scratch = [Float](repeating: 0, count: pool.threadCount * Attention.scratchPerWorker(seq: t, headSize: c / nh))
            var dqkv = [Float](repeating: 0, count: qkv.count)
            Attention.forward(out: &out, att: &att, qkv: qkv, scratch: &scratch, batch: b, seq: t, channels: c, heads: nh, pool: pool)
            Attention.backward(dqkv: &dqkv, dout: dy, att: att, qkv: qkv, scratch: &scratch, batch: b, seq: t, channels: c,
                               heads: nh, pool: pool)
            return (out, dqkv)
        }
        let one = run(try ThreadPool(threads: 1))
        for _ in 0..<3 {
            let many = run(try ThreadPool(threads: ThreadPool.maxThreads))
            XCTAssertEqual(one.0, many.0, "attention output")
            XCTAssertEqual(one.1, many.1, "attention gradient")
        }
    }
}
