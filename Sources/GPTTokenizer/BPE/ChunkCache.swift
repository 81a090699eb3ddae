// Memo of chunk -> ids for chunks that needed merging. Natural text repeats its
// words, so most multi-token chunks are merged once per cache lifetime. The cache
// is per encoding thread (no locks) and is emptied when full, bounding memory.
import Foundation

struct ChunkCache {
    private var keys = ByteSequenceTable()   // starts small: many encode calls are short texts
    private var ids: [Int32] = []
    private var idOffsets: [Int] = [0]   // ids of key k: ids[idOffsets[k] ..< idOffsets[k + 1]]

    /// Longest chunk worth remembering; longer ones rarely repeat.
    static let maximumChunkLength = 64
    /// Entries kept before the cache starts over.
    static let capacity = 1 << 16

    /// Appends the cached ids of the chunk to `output` and returns true, or returns false.
    @inline(__always)
    func lookUp(_ chunk: UnsafePointer<UInt8>, count: Int, into output: inout [Int]) -> Bool {
        let key = keys.find(chunk, count: count)
        if key < 0 { return false }
        for k in idOffsets[key]..<idOffsets[key + 1] { output.append(Int(ids[k])) }
        return true
    }

    /// Remembers that the chunk encodes to `chunkIDs`.
    mutating func remember(_ chunk: UnsafePointer<UInt8>, count: Int, ids chunkIDs: ArraySlice<Int>) {
        guard count <= Self.maximumChunkLength else { return }
        if keys.count >= Self.capacity {
            keys.removeAll()
            ids.removeAll(keepingCapacity: true)
            idOffsets.removeAll(keepingCapacity: true)
            idOffsets.append(0)
        }
        keys.insert(UnsafeBufferPointer(start: chunk, count: count))
        for id in chunkIDs { ids.append(Int32(id)) }
        idOffsets.append(ids.count)
    }
}
