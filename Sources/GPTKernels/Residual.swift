// Residual connections: out = a + b forward; backward, the gradient flows unchanged
// into both branches, so it is an accumulate.

public enum Residual {
    /// out: [N], a: [N], b: [N]
    public static func forward(out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                               count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound { store16(load16(a + i) + load16(b + i), out + i); i += 16 }
            while i < range.upperBound { out[i] = a[i] + b[i]; i += 1 }
        }
    }

    /// y: [N] += x: [N]
    public static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
            while i < range.upperBound { y[i] += x[i]; i += 1 }
        }
    }
}
