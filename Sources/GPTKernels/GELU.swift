// GELU in the tanh approximation GPT-2 uses (Hugging Face's `gelu_new`, PyTorch's
// gelu(approximate="tanh")): gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// The exact GELU (Hugging Face's `gelu`, PyTorch's gelu(x)) is x·Φ(x) = ½·x·(1 + erf(x/√2))
// (Hendrycks & Gimpel 2016). ReLU sits here too, as the other activation a config may choose.
import Foundation

public enum Activation: String, Codable, Sendable, CaseIterable {
    /// GELU, tanh approximation (GPT-2's).
    case gelu
    /// GELU with the exact normal CDF (erf).
    case geluExact
    case relu

    /// out: [N], inp: [N]. The one place a model chooses its activation's kernel.
    public func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        switch self {
        case .gelu: GELU.forward(out: out, inp: inp, count: count, pool: pool)
        case .geluExact: ExactGELU.forward(out: out, inp: inp, count: count, pool: pool)
        case .relu: ReLU.forward(out: out, inp: inp, count: count, pool: pool)
        }
    }

    /// dinp: [N] (may be dout), dout: [N], inp: [N] (the forward input)
    public func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int, pool: ThreadPool) {
        switch self {
        case .gelu: GELU.backward(dinp: dinp, dout: dout, inp: inp, count: count, pool: pool)
        case .geluExact: ExactGELU.backward(dinp: dinp, dout: dout, inp: inp, count: count, pool: pool)
        case .relu: ReLU.backward(dinp: dinp, dout: dout, inp: inp, count: count, pool: pool)
        }
    }
}

public enum GELU {
    static let k0: Float = 0.797_884_560_802_865_4  // √(2/π)
    static let k1: Float = 0.044_715

    /// out: [N], inp: [N]
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                store16(value(load16(inp + i)), out + i); i += 16
            }
            if i < range.upperBound {
                let n = range.upperBound - i
                storePartial(value(loadPartial(inp + i, n)), out + i, n)
            }
        }
    }

    /// dinp: [N] (=), dout: [N], inp: [N] (the forward input)
    public static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                                count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                store16(derivative(load16(inp + i)) * load16(dout + i), dinp + i); i += 16
            }
            if i < range.upperBound {
                let n = range.upperBound - i
                storePartial(derivative(loadPartial(inp + i, n)) * loadPartial(dout + i, n), dinp + i, n)
            }
        }
    }

    @inline(__always)
    static func value(_ x: Vec16) -> Vec16 {
        let t = vtanh(k0 * (x + k1 * x * x * x))
        return 0.5 * x * (1 + t)
    }

    @inline(__always)
    static func derivative(_ x: Vec16) -> Vec16 {
        let x2 = x * x
        let t = vtanh(k0 * (x + k1 * x2 * x))
        let sech2 = 1 - t * t
        return 0.5 * (1 + t) + 0.5 * x * sech2 * k0 * (1 + 3 * k1 * x2)
    }

    public static func forwardReference(_ x: [Double]) -> [Double] {
        let k0 = (2 / Double.pi).squareRoot()
        return x.map { 0.5 * $0 * (1 + tanh(k0 * ($0 + 0.044715 * $0 * $0 * $0))) }
    }
}

public enum ExactGELU {
    /// out: [N], inp: [N]
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                store16(value(load16(inp + i)), out + i); i += 16
            }
            if i < range.upperBound {
                let n = range.upperBound - i
                storePartial(value(loadPartial(inp + i, n)), out + i, n)
            }
        }
    }

    /// dinp: [N] (may be dout), dout: [N], inp: [N] (the forward input)
    public static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                                count: Int, pool: ThreadPool) {
        pool.parallelFor(count, granule: 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                store16(derivative(load16(inp + i)) * load16(dout + i), dinp + i); i += 16
            }
            if i < range.upperBound {
                let n = range.upperBound - i
                storePartial(derivative(loadPartial(inp + i, n)) * loadPartial(dout + i, n), dinp + i, n)
            }
        }
    }

    /// Φ(x), the standard normal CDF, and e^(−x²/2), per lane. Φ(x) = ½·erfc(−x/√2), with erfc
    /// of |x|/√2 from Numerical Recipes' Chebyshev fit (erfcc, §6.2: relative error < 1.2e-7):
    /// erfc(z) = t·e^(P(t) − z²), t = 1/(1 + z/2). Working from erfc of |x| keeps Φ accurate in
    /// relative terms on the negative side, where 1 + erf(x/√2) cancels. z² = x²/2 is split
    /// exactly into hi + lo (an FMA gives x·x's rounding error), so e^(−z²) keeps its few-ulp
    /// accuracy in the tail, where z² is large and one rounding of it would cost ~1e-6.
    @inline(__always)
    static func cdfAndGaussian(_ x: Vec16) -> (cdf: Vec16, gaussian: Vec16) {
        let ax = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + 0.5 * (ax * 0.707_106_781_186_547_5))
        var p = Vec16(repeating: 0.170_872_77)
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let square = x * x
        let hi = 0.5 * square, lo = 0.5 * (-square).addingProduct(x, x)  // x²/2 = hi + lo exactly
        let gaussian = vexp(-hi) * (1 - lo)                                // e^(−lo) = 1 − lo: |lo| ≤ ulp(hi)/2
        let half = 0.5 * t * vexp(p) * gaussian                            // ½·erfc(|x|/√2) = Φ(−|x|)
        return (half.replacing(with: 1 - half, where: x .> 0), gaussian)
    }

    @inline(__always)
    static func value(_ x: Vec16) -> Vec16 { x * cdfAndGaussian(x).cdf }

    /// d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
    @inline(__always)
    static func derivative(_ x: Vec16) -> Vec16 {
        let (cdf, gaussian) = cdfAndGaussian(x)
        return cdf + x * (0.398_942_280_401_432_7 * gaussian)
    }

    /// The specification: ½·x·(1 + erf(x/√2)) in Double, written as ½·x·erfc(−x/√2), which is
    /// the same function but does not cancel to 0 for x ≪ 0.
    public static func forwardReference(_ x: [Double]) -> [Double] {
        x.map { 0.5 * $0 * erfc(-$0 / 2.0.squareRoot()) }
    }
}

public enum ReLU {
    /// out: [N], inp: [N]
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        pool.parallelFor(count) { range in for i in range { out[i] = max(inp[i], 0) } }
    }

    /// dinp: [N] (=), dout: [N], inp: [N]
    public static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                                count: Int, pool: ThreadPool) {
        pool.parallelFor(count) { range in for i in range { dinp[i] = inp[i] > 0 ? dout[i] : 0 } }
    }
}
