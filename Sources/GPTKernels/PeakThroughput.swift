// The machine's arithmetic ceiling, measured rather than looked up: every worker
// runs a register-resident loop of independent 16-lane FMAs (no memory traffic),
// so the figure is cores × FMA lanes × 2 × clock as this CPU actually sustains it.
// MFU figures divide by this.
import Foundation

public enum PeakThroughput {
    /// Sustained FP32 GFLOP/s of `pool`'s workers together.
    public static func measure(pool: ThreadPool, iterations: Int = 20_000_000) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            var sink = [Float](repeating: 0, count: pool.threadCount)
            sink.withUnsafeMutableBufferPointer { out in
                pool.run { worker in out[worker] = fmaLoop(iterations) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            precondition(sink.allSatisfy { $0.isFinite })
            best = max(best, Double(pool.threadCount) * Double(iterations) * 12 * 16 * 2 / seconds / 1e9)
        }
        return best
    }

    @inline(never)
    static func fmaLoop(_ n: Int) -> Float {
        let a = Vec16(repeating: 1e-7), b = Vec16(repeating: 0.5)
        var c0 = Vec16(repeating: 1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
        var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
        for _ in 0..<n {
            c0.addProduct(a, b); c1.addProduct(a, b); c2.addProduct(a, b); c3.addProduct(a, b)
            c4.addProduct(a, b); c5.addProduct(a, b); c6.addProduct(a, b); c7.addProduct(a, b)
            c8.addProduct(a, b); c9.addProduct(a, b); c10.addProduct(a, b); c11.addProduct(a, b)
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
    }
}
