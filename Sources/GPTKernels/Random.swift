// Seeded random numbers for initialisation and dropout keys. SplitMix64 (Steele,
// Lea & Flood 2014): tiny state, full 64-bit period, statistically sound for this use.
import Foundation

public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1), never exactly 0 (safe for log).
    public mutating func nextUnitInterval() -> Double {
        (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992
    }

    /// Fills `buffer` with N(0, std²) samples (Box–Muller, both outputs used).
    public mutating func fillNormal(_ buffer: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        var i = 0
        while i < count {
            let u1 = nextUnitInterval(), u2 = nextUnitInterval()
            let r = (-2 * log(u1)).squareRoot()
            buffer[i] = Float(r * cos(2 * .pi * u2)) * std
            if i + 1 < count { buffer[i + 1] = Float(r * sin(2 * .pi * u2)) * std }
            i += 2
        }
    }

    /// Fisher–Yates shuffle written out, so that a seed gives the same order on every Swift
    /// version (the standard library's `shuffle(using:)` does not promise its algorithm).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }
}
