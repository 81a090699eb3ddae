// The AdamW update (Loshchilov & Hutter 2019) in the order torch.optim.AdamW
// applies it, so a step reproduces PyTorch's to float rounding:
//   p ← p·(1 − lr·λ);  m ← m + (1−β1)(g − m);  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
import Foundation

public struct AdamWHyperparameters: Codable, Equatable, Sendable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float

    public init(beta1: Float, beta2: Float, eps: Float, weightDecay: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    /// torch.optim.AdamW's defaults; fine-tuning uses them. Pre-training's β2 has its home in
    /// TrainingConfig (nanoGPT's 0.99 for small runs, 0.95 for GPT-2 124M), not here.
    public static let pytorch = AdamWHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
}

public enum AdamWKernel {
    /// params, m, v: [N] updated in place; grads: [N], multiplied by `gradientScale` as they are read
    /// (gradient clipping without a pass of its own). `step` counts from 1.
    public static func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                              m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
                              learningRate lr: Float, hyper: AdamWHyperparameters, decay: Bool, step: Int,
                              gradientScale: Float = 1, pool: ThreadPool) {
        let bias1 = 1 - pow(Double(hyper.beta1), Double(step))
        let bias2Sqrt = (1 - pow(Double(hyper.beta2), Double(step))).squareRoot()
        let stepSize = Float(Double(lr) / bias1)
        let shrink = decay ? 1 - lr * hyper.weightDecay : 1
        let w1 = 1 - hyper.beta1, b2 = hyper.beta2, w2 = 1 - hyper.beta2, eps = hyper.eps
        let bias2SqrtF = Float(bias2Sqrt)
        pool.parallelFor(count, granule: 1024) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let g = load16(grads + i) * gradientScale
                var mi = load16(m + i)
                mi = mi + w1 * (g - mi)
                let vi = b2 * load16(v + i) + w2 * (g * g)
                let denom = vi.squareRoot() / bias2SqrtF + eps
                store16(load16(params + i) * shrink - stepSize * (mi / denom), params + i)
                store16(mi, m + i); store16(vi, v + i)
                i += 16
            }
            while i < range.upperBound {
                let g = grads[i] * gradientScale
                m[i] = m[i] + w1 * (g - m[i])
                v[i] = b2 * v[i] + w2 * (g * g)
                let denom = v[i].squareRoot() / bias2SqrtF + eps
                params[i] = params[i] * shrink - stepSize * (m[i] / denom)
                i += 1
            }
        }
    }
}

public enum Reduction {
    /// Elements per partial sum of `sumOfSquares`.
    public static let chunk = 1 << 14

    /// Σ x² in Double over fixed-size chunks summed in index order: the same value for any thread count.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int, pool: ThreadPool) -> Double {
        let chunks = chunkCount(count)
        guard chunks > 0 else { return 0 }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { partial in
            chunkSumsOfSquares(x, count: count, chunks: 0..<chunks, into: partial.baseAddress!, pool: pool)
            return total(UnsafeBufferPointer(partial))
        }
    }

    /// Chunks of `count` elements.
    public static func chunkCount(_ count: Int) -> Int { (count + chunk - 1) / chunk }

    /// partial[q] = Σ x² over chunk q (elements q·chunk ..< min(count, (q+1)·chunk)), for q in `chunks`:
    /// ranks that each own whole chunks compute their parts of `sumOfSquares` with it.
    public static func chunkSumsOfSquares(_ x: UnsafePointer<Float>, count: Int, chunks: Range<Int>,
                                          into partial: UnsafeMutablePointer<Double>, pool: ThreadPool) {
        pool.parallelFor(chunks.count) { range in
            for q in range.lowerBound + chunks.lowerBound..<range.upperBound + chunks.lowerBound {
                let lo = q * chunk, hi = min(count, lo + chunk)
                var acc = Vec16()
                var i = lo
                while i + 16 <= hi { let v = load16(x + i); acc.addProduct(v, v); i += 16 }
                var s = Double(acc.sum())
                while i < hi { s += Double(x[i] * x[i]); i += 1 }
                partial[q] = s
            }
        }
    }

    /// The chunks' sums added in index order, as `sumOfSquares` adds them.
    public static func total(_ partial: UnsafeBufferPointer<Double>) -> Double {
        var total = 0.0
        for s in partial { total += s }
        return total
    }
}
