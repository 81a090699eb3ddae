// The machine's streaming-read bandwidth, the ceiling of batch-1 decoding (every weight
// is read once per token), measured on the pool that will run the model.
import Foundation

/// Streaming read bandwidth: the best of three passes summing a 1 GB buffer, threads splitting it.
public enum MemoryBandwidth {
    public static func measure(pool: ThreadPool) -> Double {
        let count = 1 << 28
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.update(repeating: 1, count: count)
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let total = Reduction.sumOfSquares(buffer, count: count, pool: pool)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            precondition(total == Double(count))
            best = max(best, Double(count * 4) / seconds)
        }
        return best
    }
}
