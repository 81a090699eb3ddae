// Causal self-attention for incremental inference: the keys and values of every
// position seen so far stay in a per-layer cache, so a new token costs one pass over
// the cache instead of a recomputation of the whole sequence. Keys are cached
// transposed ([hs, T] per head) so that a query's scores run sixteen positions per
// vector, as in training's Attention.

public enum CachedAttention {
    /// Appends the keys and values of `newCount` positions to the caches, then attends each new
    /// query to every cached position up to and including its own.
    /// out: [B, Tn, C], qkv: [B, Tn, 3C], keys: [B, NH, hs, capacity] (transposed), values: [B, NH, capacity, hs],
    /// scratch: [threads, 4 · capacity]; `past` positions are already cached.
    public static func forward(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                               keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>, batch: Int, newCount tn: Int, past: Int,
                               capacity: Int, channels c: Int, heads: Int, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        pool.parallelFor(batch * heads) { range, worker in
            let scores = scratch + worker * 4 * capacity
            for bh in range {
                let b = bh / heads, h = bh % heads
                let kT = keys + bh * hs * capacity, v = values + bh * capacity * hs
                for i in 0..<tn {
                    let row = qkv + (b * tn + i) * c3 + h * hs
                    for d in 0..<hs { kT[d * capacity + past + i] = row[c + d] }
                    (v + (past + i) * hs).update(from: row + 2 * c, count: hs)
                }
                var i = 0
                // Four queries at a time (a prefill) share every load of the cache.
                while i + 4 <= tn && hs % 64 == 0 {
                    let n = past + i + 4
                    Attention.rowTimesMatrix4(scores, capacity, qkv + (b * tn + i) * c3 + h * hs, c3, kT,
                                              k: hs, n: n, ld: capacity, scale: scale)
                    for r in 0..<4 {
                        let row = scores + r * capacity, visible = past + i + r + 1
                        Attention.softmaxInPlace(row, visible)
                        for j in visible..<n { row[j] = 0 }
                    }
                    Attention.weightedSum4(out + (b * tn + i) * c + h * hs, c, scores, capacity, v, rows: n, stride: hs, width: hs)
                    i += 4
                }
                while i < tn {
                    let visible = past + i + 1
                    Attention.rowTimesMatrix(scores, qkv + (b * tn + i) * c3 + h * hs, kT, k: hs, n: visible, ld: capacity,
                                             scale: scale)
                    Attention.softmaxInPlace(scores, visible)
                    Attention.weightedSum(out + (b * tn + i) * c + h * hs, scores, v, rows: visible, stride: hs, width: hs)
                    i += 1
                }
            }
        }
    }

    /// Cache row length for `positions` (see `Attention.paddedLength`).
    public static func capacity(for positions: Int) -> Int { Attention.paddedLength(positions) }
}
