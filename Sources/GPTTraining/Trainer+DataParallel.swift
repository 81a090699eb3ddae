// The same start and the drift check of a data-parallel run: rank 0's weights, moments and
// state copied to every rank, then a checksum of the weights compared over the ranks.
import Foundation
import GPTDistributed

extension Trainer {
    /// Gives every rank rank 0's weights, AdamW moments and training state (after a restore on
    /// rank 0, or at the start), then verifies the weights by checksum.
    public func synchronize() throws {
        guard communicator.size > 1 else { return }
        let count = model.layout.count * MemoryLayout<Float>.stride
        for buffer in [model.parameters, optimizer.m, optimizer.v] {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(start: buffer, count: count), root: 0)
        }
        var encoded = try communicator.isRoot ? JSONEncoder().encode(state()) : Data()
        var length = encoded.count
        try communicator.broadcast(&length, root: 0)
        if !communicator.isRoot { encoded = Data(count: length) }
        try encoded.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
        let shared = try JSONDecoder().decode(TrainingState.self, from: encoded)
        guard shared.dataFingerprint == dataFingerprint else { throw DataParallelError.differentData(rank: communicator.rank) }
        restore(shared)
        try verifySameWeights(position: stepsDone == 0 ? "at the start" : "after resuming at step \(stepsDone)")
    }

    /// Brings the AdamW moments of every rank up to date before a checkpoint: with the optimizer step
    /// split over the ranks, each rank keeps only its own part current. Collective.
    public func gatherOptimizerState() throws {
        guard let shards else { return }
        try shards.share(optimizer.m)
        try shards.share(optimizer.v)
    }

    /// Stops the run, naming the ranks whose weights differ from rank 0's.
    public func verifySameWeights(position: String) throws {
        let sums = try communicator.allGather(weightChecksum)
        let diverged = sums.indices.filter { sums[$0] != sums[0] }
        guard diverged.isEmpty else { throw DataParallelError.diverged(ranks: diverged, position: position) }
    }

    /// FNV-1a over the weights' bits, 64 bits at a time.
    public var weightChecksum: UInt64 {
        var hash = FNV1a()
        let count = model.layout.count
        let words = UnsafeRawPointer(model.parameters)
        var i = 0
        while i + 1 < count {
            hash.mix(words.loadUnaligned(fromByteOffset: i * 4, as: UInt64.self))
            i += 2
        }
        if i < count { hash.mix(UInt64(model.parameters[i].bitPattern)) }
        return hash.value
    }
}
