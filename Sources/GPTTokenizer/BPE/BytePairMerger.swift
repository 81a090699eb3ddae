// The BPE merge loop for one chunk, with tiktoken's semantics (`byte_pair_merge`
// in tiktoken/src/lib.rs): repeatedly merge the adjacent pair whose concatenated
// bytes have the lowest rank, the leftmost on ties, until no pair is a token.
// tiktoken rescans all pairs after each merge (O(n^2)); here the parts form a
// linked list and candidate pairs sit in a binary heap keyed (rank, position), with
// stale entries skipped on pop, so a chunk of n bytes costs O(n log n).
import Foundation

/// Reusable scratch space for merging chunks; one per encoding thread.
struct BytePairMerger {
    private var next: [Int32] = []       // next[i]: start of the part after the part starting at i
    private var previous: [Int32] = []   // start of the part before, or -1
    private var token: [Int32] = []      // rank of the part starting at i, or -1 once merged away
    private var pairRank: [Int32] = []   // rank of part i joined with its successor, or -1
    private var heap: [UInt64] = []      // (rank << 32) | start, smallest first

    /// Appends the ranks of `chunk`'s BPE parts to `ids`. `byteRank[b]` is the rank of byte `b`.
    /// Only tokens ranked below `rankLimit` may be formed (export uses this to recover merges).
    mutating func merge(_ chunk: UnsafePointer<UInt8>, count n: Int, ranks: ByteSequenceTable.View,
                        byteRank: UnsafeBufferPointer<Int32>, rankLimit: Int = .max, into ids: inout [Int]) {
        @inline(__always) func rankOf(_ start: Int, _ count: Int) -> Int32 {
            let found = ranks.find(chunk + start, count: count)
            return found < rankLimit ? Int32(found) : -1
        }
        if n > next.count {
            next = [Int32](repeating: 0, count: n)
            previous = next
            token = next
            pairRank = next
        }
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            next[i] = Int32(i + 1)
            previous[i] = Int32(i - 1)
            token[i] = byteRank[Int(chunk[i])]
        }
        for i in 0..<(n - 1) {
            let rank = rankOf(i, 2)
            pairRank[i] = rank
            if rank >= 0 { push(rank, at: i) }
        }
        pairRank[n - 1] = -1

        while let top = pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let i = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
            // Stale: the part was merged into its left neighbour, or its pair changed since.
            guard token[i] >= 0, pairRank[i] == rank else { continue }
            let j = Int(next[i])
            let k = Int(next[j])
            token[i] = rank
            token[j] = -1
            next[i] = Int32(k)
            if k < n { previous[k] = Int32(i) }
            pairRank[i] = k < n ? rankOf(i, Int(next[k]) - i) : -1
            if pairRank[i] >= 0 { push(pairRank[i], at: i) }
            let p = Int(previous[i])
            if p >= 0 {
                pairRank[p] = rankOf(p, k - p)
                if pairRank[p] >= 0 { push(pairRank[p], at: p) }
            }
        }
        var i = 0
        while i < n {
            ids.append(Int(token[i]))
            i = Int(next[i])
        }
    }

    @inline(__always)
    private mutating func push(_ rank: Int32, at position: Int) {
        heap.append(UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(position))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if heap[parent] <= heap[child] { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    @inline(__always)
    private mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            let right = left + 1
            let smaller = right < count && heap[right] < heap[left] ? right : left
            if heap[parent] <= heap[smaller] { break }
            heap.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }
}
