// Random training batches from a token file, as nanoGPT's get_batch: B offsets
// drawn uniformly from 0 ..< count - T, x = tokens[o ..< o+T], y = tokens[o+1 ..< o+T+1].
import Foundation
import GPTKernels

/// Draws (x, y) batches from a `TokenFile` with a seeded, resumable generator.
public struct BatchSampler {
    public let tokens: TokenFile
    /// The generator; save `generator.state` with a checkpoint and restore it to resume.
    public var generator: Xoshiro256StarStar

    public init(tokens: TokenFile, seed: UInt64) {
        self.tokens = tokens
        self.generator = Xoshiro256StarStar(seed: seed)
    }

    /// A batch of `batchSize` rows of `contextLength` tokens: x and y, each [B, T] row-major,
    /// y shifted one token ahead of x. The file must hold more than `contextLength` tokens.
    public mutating func nextBatch(batchSize: Int, contextLength: Int) throws -> (x: [Int32], y: [Int32]) {
        guard tokens.count > contextLength else {
            throw DataError.malformedTokenFile(
                path: tokens.url.path,
                reason: "\(tokens.count) tokens is too few for a context of \(contextLength) (need at least \(contextLength + 1))")
        }
        var x = [Int32](repeating: 0, count: batchSize * contextLength)
        var y = x
        for row in 0..<batchSize {
            let offset = generator.next(below: tokens.count - contextLength)
            x.withUnsafeMutableBufferPointer { tokens.copy(offset..<(offset + contextLength), to: $0.baseAddress! + row * contextLength) }
            y.withUnsafeMutableBufferPointer { tokens.copy((offset + 1)..<(offset + 1 + contextLength), to: $0.baseAddress! + row * contextLength) }
        }
        return (x, y)
    }
}
