// Incremental inference with a key/value cache: `append` runs only the new tokens
// through the model (a prefill of a prompt, or one token per step), reading the keys
// and values of earlier positions from per-layer caches preallocated for the context
// length. Several sequences advance together, all of the same length. The blocks are
// the model's own (`GPT.trunk`), run with the cache; one set of buffers serves every
// layer, the residual stream being updated in place.
import GPTKernels

public final class InferenceSession {
    public let model: GPT
    public let batch: Int
    /// Tokens cached per sequence so far.
    public private(set) var length = 0
    let capacity: Int
    let arena: Arena
    let keys: [UnsafeMutablePointer<Float>]    // per layer [B, NH, hs, capacity], transposed
    let values: [UnsafeMutablePointer<Float>]  // per layer [B, NH, capacity, hs]
    let block: Activations.Block               // [B, T, ·] buffers shared by every layer
    let x: UnsafeMutablePointer<Float>         // [B, T, C] the residual stream
    let last, lastNorm, mean, rstd: UnsafeMutablePointer<Float>  // [B, C], [B, C], [B], [B]
    let logits: UnsafeMutablePointer<Float>    // [B, V]
    let scratch: UnsafeMutablePointer<Float>   // [threads, 4 · capacity]

    /// Buffer sizes in floats, in carving order: 2·L caches, then the working buffers; nil on overflow.
    static func sizes(config: GPTConfig, batch: Int, threads: Int) -> [Int]? {
        let c = config.embeddingSize, t = config.contextLength, v = config.vocabSize
        let capacity = CachedAttention.capacity(for: t)
        guard let cache = product(batch, c, capacity), let n = product(batch, t), let nc = product(n, c),
              let n3c = product(n, 3, c), let n4c = product(n, 4, c), let bc = product(batch, c),
              let bv = product(batch, v), let scratch = product(threads, 4, capacity), product(2, config.layerCount) != nil
        else { return nil }
        return [Int](repeating: cache, count: 2 * config.layerCount)
            + [nc, nc, n3c, nc, nc, n4c, n4c, n, n, bc, bc, bv, scratch]
    }

    /// A session for `batch` sequences of up to the model's context length. Refuses a batch whose
    /// cache, with the model, would not fit in memory.
    public init(model: GPT, batch: Int = 1) throws {
        let config = model.config
        guard batch >= 1 else { throw GPTError.shapeMismatch(expected: 1, got: batch, what: "sequences in a session (at least)") }
        let what = "generation of \(batch) sequences of \(config.contextLength) tokens"
        try MemoryBudget.require(Checked.sum(config.sessionBytes(batch: batch, threads: model.pool.threadCount),
                                             config.parameterBytes, what: what), for: what)
        self.model = model
        self.batch = batch
        capacity = CachedAttention.capacity(for: config.contextLength)
        arena = Arena(Self.sizes(config: config, batch: batch, threads: model.pool.threadCount)!, zeroed: false)
        let take = arena.take
        keys = (0..<config.layerCount).map { _ in take() }
        values = (0..<config.layerCount).map { _ in take() }
        x = take()
        let (ln, qkv, atty, proj, fc, fcAct) = (take(), take(), take(), take(), take(), take())
        (mean, rstd) = (take(), take())
        block = Activations.Block(ln1: ln, ln1Mean: mean, ln1Rstd: rstd, qkv: qkv, att: nil, atty: atty, attProj: proj,
                                  residual2: x, ln2: ln, ln2Mean: mean, ln2Rstd: rstd, fc: fc, fcAct: fcAct,
                                  fcProj: proj, residual3: x)
        (last, lastNorm, logits, scratch) = (take(), take(), take(), take())
    }

    /// Forgets every cached position.
    public func reset() { length = 0 }

    /// Runs `tokens` ([B, count], row-major) at positions length..<length+count and returns the
    /// logits of each sequence's last new position: [B, V], valid until the next call.
    public func append(_ tokens: [Int32], count tn: Int) throws -> UnsafeBufferPointer<Float> {
        let config = model.config, c = config.embeddingSize, v = config.vocabSize
        guard tn >= 1, length + tn <= config.contextLength else {
            throw GPTError.sequenceTooLong(length: length + tn, contextLength: config.contextLength)
        }
        guard tokens.count == batch * tn else { throw GPTError.shapeMismatch(expected: batch * tn, got: tokens.count, what: "tokens") }
        let layout = model.layout, p = model.parameters, pool = model.pool
        let cache = GPT.KVCache(keys: keys, values: values, capacity: capacity, past: length)
        try tokens.withUnsafeBufferPointer { ids in
            try GPT.checkTokens(ids, vocabSize: v, ignoring: nil)
            _ = model.trunk(tokens: ids.baseAddress!, encoded: x, block: { _ in block }, batch: batch, seq: tn,
                            scratch: scratch, cache: cache)
        }
        // Only the last position of each sequence needs logits.
        for b in 0..<batch { (last + b * c).update(from: x + (b * tn + tn - 1) * c, count: c) }
        LayerNorm.forward(out: lastNorm, mean: mean, rstd: rstd, inp: last, weight: p + layout.lnfWeight,
                          bias: layout.lnfBias.map { UnsafePointer(p + $0) }, rows: batch, channels: c,
                          eps: config.layerNormEpsilon, pool: pool)
        // logits[B, V] = lnf(last)[B, C] · wte[V, C]ᵀ
        model.languageModelHead(logits: logits, hidden: lastNorm, rows: batch)
        length += tn
        return UnsafeBufferPointer(start: logits, count: batch * v)
    }
}
