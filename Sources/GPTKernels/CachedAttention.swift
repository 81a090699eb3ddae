// Causal self-attention for incremental inference: the keys and values of every
// position seen so far stay in a per-layer cache, so a new token costs one pass over
// the cache instead of a recomputation of the whole sequence. Keys are cached
// transposed ([hs, T] per head) so that a query's scores run sixteen positions per
// vector, as in training's Attention.
//
// The rows of one call belong to segments: a run of new positions of one cache slot,
// each slot at its own length (a server decodes some sequences while it prefills
// another). A query's scores and weighted sum are per-lane multiply-add chains over
// the cached positions in order, whether a key was cached earlier or arrived in the
// same call, and whether the query ran alone or four at a time: a row's result does
// not depend on how a prompt was cut into calls, nor on the other segments.

public enum CachedAttention {
    /// `count` new positions of cache slot `slot`, at rows row..<row+count of the call, after
    /// `past` positions already cached.
    public struct Segment: Sendable, Equatable {
        public let slot: Int
        public let row: Int
        public let count: Int
        public let past: Int
        public init(slot: Int, row: Int, count: Int, past: Int) {
            self.slot = slot; self.row = row; self.count = count; self.past = past
        }
    }

    /// Appends the keys and values of each segment's new positions to its slot's caches, then
    /// attends each new query to every cached position of its slot up to and including its own.
    /// out: [N, C], qkv: [N, 3C] (N = rows of all segments), keys: [slots, NH, hs, capacity]
    /// (transposed), values: [slots, NH, capacity, hs], scratch: [threads, 4 · capacity].
    public static func forward(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                               keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>, segments: [Segment],
                               capacity: Int, channels c: Int, heads: Int, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        pool.parallelFor(segments.count * heads) { range, worker in
            let scores = scratch + worker * 4 * capacity
            for sh in range {
                let segment = segments[sh / heads], h = sh % heads
                let bh = segment.slot * heads + h, past = segment.past, tn = segment.count
                let first = qkv + segment.row * c3, output = out + segment.row * c
                let kT = keys + bh * hs * capacity, v = values + bh * capacity * hs
                for i in 0..<tn {
                    let row = first + i * c3 + h * hs
                    for d in 0..<hs { kT[d * capacity + past + i] = row[c + d] }
                    (v + (past + i) * hs).update(from: row + 2 * c, count: hs)
                }
                var i = 0
                // Four queries at a time (a prefill) share every load of the cache; the weights of
                // positions a query may not see are zero, which leaves its sums as they were.
                while i + 4 <= tn && hs % 64 == 0 {
                    let n = past + i + 4
                    Attention.rowTimesMatrix4(scores, capacity, first + i * c3 + h * hs, c3, kT,
                                              k: hs, n: n, ld: capacity, scale: scale)
                    for r in 0..<4 {
                        let row = scores + r * capacity, visible = past + i + r + 1
                        Attention.softmaxInPlace(row, visible)
                        for j in visible..<n { row[j] = 0 }
                    }
                    Attention.weightedSum4(output + i * c + h * hs, c, scores, capacity, v, rows: n, stride: hs, width: hs)
                    i += 4
                }
                while i < tn {
                    let visible = past + i + 1
                    Attention.rowTimesMatrix(scores, first + i * c3 + h * hs, kT, k: hs, n: visible, ld: capacity,
                                             scale: scale)
                    Attention.softmaxInPlace(scores, visible)
                    Attention.weightedSum(output + i * c + h * hs, scores, v, rows: visible, stride: hs, width: hs)
                    i += 1
                }
            }
        }
    }

    /// `batch` sequences of `newCount` new positions each, all after `past` cached ones.
    public static func uniformSegments(batch: Int, newCount: Int, past: Int) -> [Segment] {
        (0..<batch).map { Segment(slot: $0, row: $0 * newCount, count: newCount, past: past) }
    }

    /// Cache row length for `positions` (see `Attention.paddedLength`).
    public static func capacity(for positions: Int) -> Int { Attention.paddedLength(positions) }
}
