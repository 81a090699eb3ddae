// Softmax cross-entropy over the vocabulary, fused with its gradient:
// loss = logsumexp(logits) − logits[target]; dlogits = (softmax(logits) − onehot) · dloss.
// A negative target marks a position to ignore (padding): no loss, zero gradient.
import Foundation

public enum CrossEntropy {
    /// losses: [N], logits: [N, V], targets: [N]
    public static func forward(losses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                               targets: UnsafePointer<Int32>, rows n: Int, vocab v: Int, pool: ThreadPool) {
        pool.parallelFor(n) { range in
            for row in range {
                let target = Int(targets[row])
                guard target >= 0 else { losses[row] = 0; continue }
                let x = logits + row * v
                let (m, total) = maxAndSumExp(x, v)
                losses[row] = m + logf(total) - x[target]
            }
        }
    }

    /// dlogits: [N, V] (=; may alias logits), logits: [N, V], targets: [N], dloss: gradient of the
    /// objective with respect to each row's loss (1/count for a mean).
    public static func backward(dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                                targets: UnsafePointer<Int32>, rows n: Int, vocab v: Int, dloss: Float, pool: ThreadPool) {
        pool.parallelFor(n) { range in
            for row in range {
                let target = Int(targets[row])
                let x = logits + row * v, d = dlogits + row * v
                guard target >= 0 else { d.update(repeating: 0, count: v); continue }
                let (m, total) = maxAndSumExp(x, v)
                let scale = Vec16(repeating: dloss / total), mv = Vec16(repeating: m)
                var i = 0
                while i + 16 <= v { store16(vexp(load16(x + i) - mv) * scale, d + i); i += 16 }
                if i < v {
                    let k = v - i
                    storePartial(vexp(loadPartial(x + i, k) - mv) * scale, d + i, k)
                }
                d[target] -= dloss
            }
        }
    }

    /// Row maximum and Σ exp(x − max).
    @inline(__always)
    static func maxAndSumExp(_ x: UnsafePointer<Float>, _ v: Int) -> (Float, Float) {
        let m = maximum(x, v)
        let mb = Vec16(repeating: m)
        var acc = Vec16()
        var i = 0
        while i + 16 <= v { acc += vexp(load16(x + i) - mb); i += 16 }
        if i < v { acc += vexp(loadPartial(x + i, v - i, fill: -.infinity) - mb) }
        return (m, acc.sum())
    }

    /// The specification in Double: per-row losses.
    public static func forwardReference(logits: [Double], targets: [Int], vocab v: Int) -> [Double] {
        targets.enumerated().map { row, target in
            guard target >= 0 else { return 0 }
            let x = logits[(row * v)..<(row * v + v)]
            let m = x.max()!
            return m + log(x.reduce(0) { $0 + exp($1 - m) }) - x[row * v + target]
        }
    }
}
