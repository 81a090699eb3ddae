// xoshiro256** (Blackman & Vigna, 2018), seeded through SplitMix64 as its authors
// recommend; with SplitMix64 (Random.swift) the one family of generators we use. Small, fast, and its whole state is four words that a checkpoint can
// save and restore, so a resumed run draws exactly the batches it would have.
import Foundation

public struct Xoshiro256StarStar: RandomNumberGenerator, Codable, Equatable, Sendable {
    /// The generator's full state (four words); `init?(state:)` with it continues the sequence exactly.
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var seeder = SplitMix64(seed: seed)
        state = (0..<4).map { _ in seeder.next() }
    }

    /// Restores a saved `state` (four words, not all zero).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    public init(from decoder: Decoder) throws {
        let words = try [UInt64](from: decoder)
        guard let restored = Xoshiro256StarStar(state: words) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "xoshiro256** state must be four words, not all zero"))
        }
        self = restored
    }

    public func encode(to encoder: Encoder) throws { try state.encode(to: encoder) }

    public mutating func next() -> UInt64 {
        let result = (state[1] &* 5).rotatedLeft(7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = state[3].rotatedLeft(45)
        return result
    }

    /// Uniform in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let n = UInt64(bound)
        var product = next().multipliedFullWidth(by: n)
        if product.low < n {
            let threshold = (0 &- n) % n
            while product.low < threshold { product = next().multipliedFullWidth(by: n) }
        }
        return Int(product.high)
    }
}

private extension UInt64 {
    @inline(__always) func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
