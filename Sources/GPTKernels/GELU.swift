// GELU in the tanh approximation GPT-2 uses (Hugging Face's `gelu_new`, PyTorch's
// gelu(approximate="tanh")): gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// ReLU sits here too, as the other activation a config may choose.
import Foundation

public enum Activation: String, Codable, Sendable {
    case gelu, relu

    /// out: [N], inp: [N]. The one place a model chooses its activation's kernel.
    public func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        switch self {
        case .gelu: GELU.forward(out: out, inp: inp, count: count, pool: pool)
        case .relu: ReLU.forward(out: out, inp: inp, count: count, pool: pool)
        }
    }

    /// dinp: [N] (may be dout), dout: [N], inp: [N] (the forward input)
    public func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         count: Int, pool: ThreadPool) {
        switch self {
        case .gelu: GELU.backward(dinp: dinp, dout: dout, inp: inp, count: count, pool: pool)
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
