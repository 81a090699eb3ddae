// Training batches from a token sequence held in memory: random windows of T+1
// tokens, x the first T and y the last T (next-token targets), positions drawn from
// a seeded generator as nanoGPT's get_batch does.
import GPTData
import GPTKernels

public struct TokenWindows {
    public let tokens: [Int32]
    public var generator: Xoshiro256StarStar

    public init(tokens: [Int32], seed: UInt64) {
        self.tokens = tokens
        generator = Xoshiro256StarStar(seed: seed)
    }

    /// Draws the positions of `next(batch:seq:)` without copying tokens: the windows another
    /// data-parallel rank trains on.
    public mutating func skip(batch: Int, seq: Int) {
        for _ in 0..<batch { _ = generator.next(below: tokens.count - seq) }
    }

    /// x, y: [batch, seq] row-major.
    public mutating func next(batch: Int, seq: Int) -> (x: [Int32], y: [Int32]) {
        precondition(tokens.count > seq, "a window needs seq + 1 tokens")
        var x: [Int32] = [], y: [Int32] = []
        x.reserveCapacity(batch * seq); y.reserveCapacity(batch * seq)
        for _ in 0..<batch {
            let start = generator.next(below: tokens.count - seq)
            x += tokens[start..<(start + seq)]
            y += tokens[(start + 1)...(start + seq)]
        }
        return (x, y)
    }
}
