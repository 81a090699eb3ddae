// Deterministic mutations of a valid file for the fuzz tests of the file readers:
// bit flips, truncations, byte insertions and replacement of a decimal number by a
// hostile one (huge, negative, past Int32 or Int64, fractional). The generator is
// SplitMix64's step, written here because test support must not import GPTKernels.
import Foundation

public struct ByteMutator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Numbers that break naive readers: past Int32, past Int64, negative, fractional, exponent.
    public static let hostileNumbers = [
        "9223372036854775807", "-9223372036854775808", "18446744073709551615", "2147483647", "2147483648",
        "-1", "0", "99999999999999999999999", "1e30", "-1e30", "1.5", "4294967296",
    ]

    public mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(max(bound, 1)))
    }

    /// One to three mutations of `bytes`, each chosen at random.
    public mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for _ in 0..<(1 + next(3)) {
            switch next(4) {
            case 0 where !out.isEmpty:
                out[next(out.count)] ^= UInt8(1 << next(8))
            case 1:
                out = Array(out.prefix(next(out.count + 1)))
            case 2:
                let inserted = (0..<(1 + next(8))).map { _ in UInt8(next(256)) }
                out.insert(contentsOf: inserted, at: next(out.count + 1))
            default:
                replaceNumber(&out)
            }
        }
        return out
    }

    /// Replaces one run of ASCII digits (with its minus sign) by a hostile number.
    private mutating func replaceNumber(_ bytes: inout [UInt8]) {
        var runs: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { i += 1; continue }
            var start = i
            if start > 0, bytes[start - 1] == UInt8(ascii: "-") { start -= 1 }
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            runs.append(start..<i)
        }
        guard !runs.isEmpty else { return }
        let number = Self.hostileNumbers[next(Self.hostileNumbers.count)]
        bytes.replaceSubrange(runs[next(runs.count)], with: Array(number.utf8))
    }
}
