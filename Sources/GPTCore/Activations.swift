// Every buffer one forward + backward pass needs, planned once from (config, B, T)
// and carved out of a single allocation, so the training step never allocates.
// The KV-cached InferenceSession carves its buffers with the same `Arena`.
import GPTKernels

/// One 64-byte-aligned allocation carved, in order, into buffers of the planned sizes. Each
/// buffer is rounded up to 16 floats so that every one starts 64-byte aligned.
final class Arena {
    let storage: UnsafeMutablePointer<Float>
    /// Floats allocated (the padded sizes' sum).
    let count: Int
    private var cursor: UnsafeMutablePointer<Float>
    private var sizes: IndexingIterator<[Int]>

    /// The floats an arena of `sizes` allocates, or nil when the sum overflows.
    static func paddedCount(_ sizes: [Int]) -> Int? {
        var total = 0
        for size in sizes {
            let (padded, o1) = size.addingReportingOverflow(15)
            let (sum, o2) = total.addingReportingOverflow(padded / 16 * 16)
            if o1 || o2 || size < 0 { return nil }
            total = sum
        }
        return total
    }

    /// `sizes` must come from a plan checked with `paddedCount` (and `MemoryBudget`).
    init(_ sizes: [Int], zeroed: Bool) {
        let padded = sizes.map { ($0 + 15) / 16 * 16 }
        count = padded.reduce(0, +)
        storage = GPT.allocate(count)
        if zeroed { storage.update(repeating: 0, count: count) }
        cursor = storage
        self.sizes = padded.makeIterator()
    }

    deinit { storage.deallocate() }

    /// The next planned buffer.
    func take() -> UnsafeMutablePointer<Float> {
        let p = cursor
        cursor += sizes.next()!  // a broken plan is an internal error
        return p
    }
}

final class Activations {
    let batch: Int, seq: Int
    /// Whether `logits` has room: a classifier that skips the LM head needs no [B, T, V] buffer.
    let hasLogits: Bool
    let arena: Arena
    let tokens: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>

    /// One block's forward values. The training plan saves one per layer; the cached path keeps a
    /// single one whose input, residual2 and residual3 are one buffer (it adds in place).
    struct Block {
        var ln1, ln1Mean, ln1Rstd, qkv: UnsafeMutablePointer<Float>
        /// Attention weights [B, NH, T, T], saved for backward; nil on the cached path.
        var att: UnsafeMutablePointer<Float>?
        var atty, attProj, residual2: UnsafeMutablePointer<Float>
        var ln2, ln2Mean, ln2Rstd, fc, fcAct, fcProj, residual3: UnsafeMutablePointer<Float>
    }
    let encoded: UnsafeMutablePointer<Float>          // [B, T, C]
    let blocks: [Block]
    let lnf, lnfMean, lnfRstd: UnsafeMutablePointer<Float>
    let logits: UnsafeMutablePointer<Float>           // [B, T, V] (if hasLogits); dlogits in place after backward
    let losses: UnsafeMutablePointer<Float>           // [B, T]
    // Gradient scratch, reused by every block.
    let dResidual, dC, dC2: UnsafeMutablePointer<Float>   // [B, T, C]
    let d3C: UnsafeMutablePointer<Float>                  // [B, T, 3C]
    let d4C: UnsafeMutablePointer<Float>                  // [B, T, 4C]
    let attentionScratch: UnsafeMutablePointer<Float>     // [threads, Attention.scratchPerWorker]

    /// Buffer sizes in floats, in carving order; nil if a size overflows `Int`.
    static func sizes(config: GPTConfig, batch: Int, seq: Int, threads: Int, logits: Bool) -> [Int]? {
        let c = config.embeddingSize, nh = config.headCount, v = config.vocabSize
        guard let n = product(batch, seq), let nc = product(n, c), let n3c = product(n, 3, c), let n4c = product(n, 4, c),
              let att = product(batch, nh, seq, seq), let nv = product(n, logits ? v : 0),
              let scratch = product(threads, Attention.scratchPerWorker(seq: seq, headSize: config.headSize))
        else { return nil }
        var sizes: [Int] = [nc]
        let block = [nc, n, n, n3c, att, nc, nc, nc, nc, n, n, n4c, n4c, nc, nc]
        sizes.reserveCapacity(1 + block.count * config.layerCount + 11)
        for _ in 0..<config.layerCount { sizes += block }
        sizes += [nc, n, n, nv, n, nc, nc, nc, n3c, n4c, scratch]
        return sizes
    }

    /// `sizes(…)` must have been checked (GPT.plan does).
    init(config: GPTConfig, batch: Int, seq: Int, threads: Int, logits: Bool = true) {
        self.batch = batch; self.seq = seq; hasLogits = logits
        let n = batch * seq
        arena = Arena(Self.sizes(config: config, batch: batch, seq: seq, threads: threads, logits: logits)!, zeroed: true)
        let take = arena.take
        encoded = take()
        var blocks: [Block] = []
        for _ in 0..<config.layerCount {
            blocks.append(Block(ln1: take(), ln1Mean: take(), ln1Rstd: take(), qkv: take(), att: take(), atty: take(),
                                attProj: take(), residual2: take(), ln2: take(), ln2Mean: take(), ln2Rstd: take(),
                                fc: take(), fcAct: take(), fcProj: take(), residual3: take()))
        }
        self.blocks = blocks
        lnf = take(); lnfMean = take(); lnfRstd = take(); self.logits = take(); losses = take()
        dResidual = take(); dC = take(); dC2 = take(); d3C = take(); d4C = take(); attentionScratch = take()
        tokens = .allocate(capacity: max(1, n))
        targets = .allocate(capacity: max(1, n))
    }

    deinit {
        tokens.deallocate(); targets.deallocate()
    }
}

/// The product of `factors`, or nil if it overflows `Int` (sizes from files are checked before use).
func product(_ factors: Int...) -> Int? {
    var result = 1
    for f in factors {
        let (r, overflow) = result.multipliedReportingOverflow(by: f)
        if overflow || f < 0 { return nil }
        result = r
    }
    return result
}
