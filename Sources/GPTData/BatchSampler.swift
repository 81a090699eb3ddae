// Random training batches, as nanoGPT's get_batch: B offsets drawn uniformly from
// 0 ..< count - T, x = tokens[o ..< o+T], y = tokens[o+1 ..< o+T+1]. The tokens are a
// `TokenShards` sequence: memory-mapped shards read in place (a window may span two
// shards; see TokenShards), or ids in memory. The one sampler of pre-training, LM
// fine-tuning and their evaluations. Pages of a large mapped corpus are handed back every
// `residentBudget` bytes of windows, so the resident size stays bounded however long the run.
import Foundation
import GPTKernels

/// Draws (x, y) batches from a token sequence with a seeded, resumable generator.
public struct BatchSampler {
    public let tokens: TokenShards
    /// The generator: the sampler's whole state. Save `generator.state` with a checkpoint and
    /// restore it to resume on the same windows.
    public var generator: Xoshiro256StarStar

    public init(tokens: TokenShards, seed: UInt64) {
        self.tokens = tokens
        self.generator = Xoshiro256StarStar(seed: seed)
    }

    public init(tokens: TokenFile, seed: UInt64) {
        self.init(tokens: TokenShards([tokens]), seed: seed)
    }

    /// Whether windows of `seq` + 1 tokens fit in the sequence.
    public func fits(seq: Int) -> Bool { seq >= 1 && tokens.count > seq }

    /// Draws the offsets of `next(batch:seq:)` without reading tokens: the windows another
    /// data-parallel rank trains on.
    public mutating func skip(batch: Int, seq: Int) {
        precondition(fits(seq: seq), "a window needs seq + 1 tokens")
        for _ in 0..<batch { _ = generator.next(below: tokens.count - seq) }
    }

    /// x, y: [batch, seq] row-major, y one token ahead of x. The sequence must hold more than `seq`
    /// tokens (the trainer checks it once, when it is built).
    public mutating func next(batch: Int, seq: Int) -> (x: [Int32], y: [Int32]) {
        precondition(fits(seq: seq), "a window needs seq + 1 tokens")
        var x = [Int32](repeating: 0, count: batch * seq), y = x
        x.withUnsafeMutableBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                for row in 0..<batch {
                    let offset = generator.next(below: tokens.count - seq)
                    tokens.copy(offset..<(offset + seq), to: xs.baseAddress! + row * seq)
                    tokens.copy((offset + 1)..<(offset + 1 + seq), to: ys.baseAddress! + row * seq)
                }
            }
        }
        releaseIfDue(windows: batch)
        return (x, y)
    }

    /// The mapped bytes windows may leave resident before they are handed back: a long run over a
    /// corpus larger than memory would otherwise count every page it ever touched in its resident
    /// size. A corpus whose files are smaller than this is never released (it may stay resident whole).
    public static let residentBudget = 64 << 20
    /// What one window may leave resident: the 64 KiB fault-around blocks of its two ends.
    static let bytesPerWindow = 128 << 10
    private var residentEstimate = 0

    /// Releases all mapped pages once the windows drawn since the last release may hold
    /// `residentBudget`: one madvise per 512 windows, not one per window (each is a TLB shootdown
    /// across the training threads; per window they cost 10% of a Shakespeare-size step).
    private mutating func releaseIfDue(windows: Int) {
        guard tokens.mappedBytes > Self.residentBudget else { return }
        residentEstimate += windows * Self.bytesPerWindow
        if residentEstimate >= Self.residentBudget {
            tokens.releaseAll()
            residentEstimate = 0
        }
    }

    /// `next(batch:seq:)`, with a too-short sequence as an error naming the file.
    public mutating func nextBatch(batchSize: Int, contextLength: Int) throws -> (x: [Int32], y: [Int32]) {
        guard fits(seq: contextLength) else {
            throw DataError.malformedTokenFile(
                path: tokens.name,
                reason: "\(tokens.count) tokens is too few for a context of \(contextLength) (need at least \(contextLength + 1))")
        }
        return next(batch: batchSize, seq: contextLength)
    }
}
