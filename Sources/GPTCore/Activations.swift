// Every buffer one forward + backward pass needs, planned once from (config, B, T)
// and carved out of a single allocation, so the training step never allocates.
import GPTKernels

final class Activations {
    let batch: Int, seq: Int
    /// Whether `logits` has room: a classifier that skips the LM head needs no [B, T, V] buffer.
    let hasLogits: Bool
    let storage: UnsafeMutablePointer<Float>
    let tokens: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>

    /// One block's saved forward values.
    struct Block {
        var ln1, ln1Mean, ln1Rstd, qkv, att, atty, attProj, residual2: UnsafeMutablePointer<Float>
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

    init(config: GPTConfig, batch: Int, seq: Int, threads: Int, logits: Bool = true) {
        self.batch = batch; self.seq = seq; hasLogits = logits
        let n = batch * seq, c = config.embeddingSize, nh = config.headCount, v = config.vocabSize
        var sizes: [Int] = [n * c]
        let blockSizes = [n * c, n, n, n * 3 * c, batch * nh * seq * seq, n * c, n * c, n * c,
                          n * c, n, n, n * 4 * c, n * 4 * c, n * c, n * c]
        for _ in 0..<config.layerCount { sizes += blockSizes }
        sizes += [n * c, n, n, logits ? n * v : 0, n, n * c, n * c, n * c, n * 3 * c, n * 4 * c,
                  threads * Attention.scratchPerWorker(seq: seq, headSize: config.headSize)]
        // Round every buffer up to 16 floats so that each starts 64-byte aligned.
        let padded = sizes.map { ($0 + 15) / 16 * 16 }
        let total = padded.reduce(0, +)
        storage = UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64).bindMemory(to: Float.self, capacity: total)
        storage.update(repeating: 0, count: total)
        var cursor = storage
        var next = padded.makeIterator()
        func take() -> UnsafeMutablePointer<Float> { let p = cursor; cursor += next.next()!; return p }
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
        tokens = .allocate(capacity: n)
        targets = .allocate(capacity: n)
    }

    deinit {
        storage.deallocate(); tokens.deallocate(); targets.deallocate()
    }
}
