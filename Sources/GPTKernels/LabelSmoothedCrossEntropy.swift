// Softmax cross-entropy with label smoothing, fused with its gradient, as PyTorch's
// `F.cross_entropy(logits, targets, label_smoothing: ε, ignore_index: pad)` defines it
// (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing): the target
// distribution is (1 − ε)·onehot + ε/V on every one of the V classes (the target included),
// so per row
//   loss = (1 − ε)·(lse − x[t]) + (ε/V)·Σ_c (lse − x[c]),   lse = logsumexp(x)
//   dloss/dx = softmax(x) − (1 − ε)·onehot(t) − ε/V.
// With reduction 'mean' PyTorch divides the summed row losses by the number of rows whose
// target is not `ignore_index`; the kernel returns that count, and the caller passes
// dloss = 1/count to backward. Rows whose target equals `ignoreIndex`, or is negative (our
// CrossEntropy's convention, and PyTorch's default ignore_index −100), have no loss and a
// zero gradient. ε = 0 gives CrossEntropy's numbers.
import Foundation

public enum LabelSmoothedCrossEntropy {
    /// losses: [N] (=), logits: [N, V], targets: [N]. Returns the number of rows not ignored.
    /// Every target other than `ignoreIndex` and negative ones must be below V.
    @discardableResult
    public static func forward(losses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                               rows n: Int, vocab v: Int, smoothing epsilon: Float, ignoreIndex: Int32, pool: ThreadPool) -> Int {
        pool.parallelFor(n) { range in
            for row in range {
                let target = targets[row]
                guard target >= 0, target != ignoreIndex else { losses[row] = 0; continue }
                let x = logits + row * v
                let (m, total, gapSum) = maxSumExpAndGap(x, v)
                // lse − x[c] = (m − x[c]) + log Σ exp(x − m): the gaps are ≥ 0, so no cancellation.
                let logTotal = logf(total)
                losses[row] = (1 - epsilon) * (m - x[Int(target)]) + epsilon * (gapSum / Float(v)) + logTotal
            }
        }
        return counted(targets: targets, rows: n, ignoreIndex: ignoreIndex)
    }

    /// dlogits: [N, V] (=; may alias logits), logits: [N, V], targets: [N], dloss: gradient of the
    /// objective with respect to each row's loss (1/count for PyTorch's mean).
    public static func backward(dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                rows n: Int, vocab v: Int, smoothing epsilon: Float, ignoreIndex: Int32, dloss: Float, pool: ThreadPool) {
        pool.parallelFor(n) { range in
            for row in range {
                let target = targets[row]
                let x = logits + row * v, d = dlogits + row * v
                guard target >= 0, target != ignoreIndex else { d.update(repeating: 0, count: v); continue }
                let (m, total) = CrossEntropy.maxAndSumExp(x, v)
                let scale = Vec16(repeating: dloss / total), mv = Vec16(repeating: m)
                let uniform = Vec16(repeating: dloss * epsilon / Float(v))
                var i = 0
                while i + 16 <= v { store16(vexp(load16(x + i) - mv) * scale - uniform, d + i); i += 16 }
                if i < v {
                    let k = v - i
                    storePartial(vexp(loadPartial(x + i, k) - mv) * scale - uniform, d + i, k)
                }
                d[Int(target)] -= (1 - epsilon) * dloss
            }
        }
    }

    /// The rows whose target is neither `ignoreIndex` nor negative: PyTorch's divisor for 'mean'.
    public static func counted(targets: UnsafePointer<Int32>, rows n: Int, ignoreIndex: Int32) -> Int {
        var count = 0
        for row in 0..<n where targets[row] >= 0 && targets[row] != ignoreIndex { count += 1 }
        return count
    }

    /// Row maximum m, Σ exp(x − m) and Σ (m − x).
    @inline(__always)
    static func maxSumExpAndGap(_ x: UnsafePointer<Float>, _ v: Int) -> (Float, Float, Float) {
        let m = maximum(x, v)
        let mb = Vec16(repeating: m)
        var acc = Vec16(), gap = Vec16()
        var i = 0
        while i + 16 <= v {
            let shifted = load16(x + i) - mb
            acc += vexp(shifted); gap -= shifted
            i += 16
        }
        if i < v {
            let shifted = loadPartial(x + i, v - i, fill: -.infinity) - mb
            acc += vexp(shifted)
            gap -= loadPartial(x + i, v - i, fill: m) - mb  // filled lanes add m − m = 0
        }
        return (m, acc.sum(), gap.sum())
    }

    /// The specification in Double: per-row losses (0 for ignored rows).
    public static func forwardReference(logits: [Double], targets: [Int], vocab v: Int, smoothing epsilon: Double,
                                        ignoreIndex: Int) -> [Double] {
        targets.enumerated().map { row, target in
            guard target >= 0, target != ignoreIndex else { return 0 }
            let x = Array(logits[(row * v)..<(row * v + v)])
            let m = x.max()!
            let lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
            let meanNegativeLogProbability = x.reduce(0) { $0 + (lse - $1) } / Double(v)
            return (1 - epsilon) * (lse - x[target]) + epsilon * meanNegativeLogProbability
        }
    }

    /// PyTorch's reduction 'mean' of the reference losses: their sum over the counted rows (NaN when none is, as PyTorch).
    public static func meanReference(logits: [Double], targets: [Int], vocab v: Int, smoothing epsilon: Double, ignoreIndex: Int) -> Double {
        let losses = forwardReference(logits: logits, targets: targets, vocab: v, smoothing: epsilon, ignoreIndex: ignoreIndex)
        let count = targets.filter { $0 >= 0 && $0 != ignoreIndex }.count
        return losses.reduce(0, +) / Double(count)
    }
}
