// The number formats a weight matrix can be held in for inference, and the rounding
// from fp32 into each. bf16 is the top half of an fp32 (rounded to nearest even);
// f16 is IEEE binary16 (Swift's `Float16`); q8_0 is ggml's: blocks of 32 weights
// along the reduction dimension, each block one scale d = max|x| / 127 (held as an
// f16 value) and 32 signed bytes q = round(x / d), so x ≈ q · d.

/// How the weight matrices of a model are stored for inference.
public enum WeightFormat: String, CaseIterable, Sendable {
    case fp32, bf16, f16, q8_0

    /// Weights per q8_0 block (ggml's QK8_0), along the reduction dimension.
    public static let q8BlockSize = 32

    /// Bytes for `count` weights of one matrix row (q8_0: `count` a multiple of 32, with its scales at 4 bytes each).
    public func bytes(count: Int) -> Int {
        switch self {
        case .fp32: return 4 * count
        case .bf16, .f16: return 2 * count
        case .q8_0: return count + 4 * (count / Self.q8BlockSize)
        }
    }

    /// Whether a matrix whose reduction dimension is `k` can be held in this format: whole q8_0 blocks,
    /// and the same multiple of 32 for the 16-bit formats (the GEMM widens two reduction steps at a
    /// time and never splits a block across GEMM's KC blocks; GPT-2's K are 768 and 3072).
    public func holds(reduction k: Int) -> Bool {
        self == .fp32 || k % Self.q8BlockSize == 0
    }

    /// fp32 → bf16 bits, rounded to nearest, ties to even; NaN stays NaN, infinities stay infinite.
    @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x0040 }
        return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// bf16 bits → fp32 (exact: a 16-bit shift).
    @inline(__always)
    public static func floatFromBF16(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The q8_0 scale of a block whose largest magnitude is `maxMagnitude`, rounded to f16 as
    /// ggml stores it; nil when it does not fit f16 (a weight beyond ~8.3 million).
    public static func q8Scale(maxMagnitude: Float) -> Float? {
        let d = Float(Float16(maxMagnitude / 127))
        return d.isFinite ? d : nil
    }

    /// One block's bytes: q = round(x / d), within ±127 because d ≥ max|x| / 127 up to f16 rounding
    /// (clamped for the rounding). A zero scale gives zeros.
    @inline(__always)
    public static func q8Quantize(_ x: Float, scale d: Float) -> Int8 {
        guard d > 0 else { return 0 }
        return Int8(max(-127, min(127, (x / d).rounded(.toNearestOrEven))))
    }
}

public enum WeightFormatError: Error, CustomStringConvertible, Equatable {
    /// A value that the format cannot hold (beyond f16's 65,504 or q8_0's f16 scale).
    case outOfRange(format: WeightFormat, value: Float, row: Int, what: String)
    case cannotHold(format: WeightFormat, reduction: Int, what: String)

    public var description: String {
        switch self {
        case let .outOfRange(format, value, row, what):
            return "\(what): the value \(value) in row \(row) does not fit \(format.rawValue)"
        case let .cannotHold(format, k, what):
            return "\(what): \(format.rawValue) needs rows of a multiple of \(WeightFormat.q8BlockSize) weights, got \(k)"
        }
    }
}
