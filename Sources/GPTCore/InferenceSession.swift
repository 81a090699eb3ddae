// Incremental inference with a key/value cache: each pass runs only new tokens through
// the model (a prefill of a prompt, or one token per step), reading the keys and values
// of earlier positions from per-layer caches preallocated for the context length. The
// cache has `batch` slots, each holding one sequence at its own length: `step` extends
// any set of slots by any number of tokens each in one forward pass (a server decodes
// every running sequence and prefills a chunk of a waiting prompt together), and
// `append` extends all slots alike. The blocks are the model's own (`GPT.trunk`), run
// with the cache; one set of buffers serves every layer, the residual stream being
// updated in place. Every kernel on this path computes a row independently of the
// others (see GEMM.skinny, CachedAttention), so a sequence's logits are bit-identical
// whatever else shares its passes and however its prompt was cut into steps.
import GPTKernels

public final class InferenceSession {
    public let model: GPT
    /// Cache slots (sequences).
    public let batch: Int
    /// Token rows one pass may hold, over all slots.
    public let rowCapacity: Int
    /// Tokens cached per slot so far.
    public private(set) var lengths: [Int]
    let capacity: Int
    let arena: Arena
    let keys: [UnsafeMutablePointer<Float>]    // per layer [slots, NH, hs, capacity], transposed
    let values: [UnsafeMutablePointer<Float>]  // per layer [slots, NH, capacity, hs]
    let block: Activations.Block               // [rows, ·] buffers shared by every layer
    let x: UnsafeMutablePointer<Float>         // [rows, C] the residual stream
    let last, lastNorm, mean, rstd: UnsafeMutablePointer<Float>  // [B, C], [B, C], [rows], [rows]
    let logits: UnsafeMutablePointer<Float>    // [B, V]
    let scratch: UnsafeMutablePointer<Float>   // [threads, 4 · capacity]

    /// Tokens cached per sequence (of slot 0; `append` keeps every slot at the same length).
    public var length: Int { lengths[0] }

    /// Buffer sizes in floats, in carving order: 2·L caches, then the working buffers; nil on overflow.
    /// `rows`: token rows per pass (default: every slot's whole context at once).
    static func sizes(config: GPTConfig, batch: Int, rows: Int? = nil, threads: Int) -> [Int]? {
        let c = config.embeddingSize, t = config.contextLength, v = config.vocabSize
        let capacity = CachedAttention.capacity(for: t)
        guard let cache = product(batch, c, capacity), let n = rows ?? product(batch, t), let nc = product(n, c),
              let n3c = product(n, 3, c), let n4c = product(n, 4, c), let bc = product(batch, c),
              let bv = product(batch, v), let scratch = product(threads, 4, capacity), product(2, config.layerCount) != nil
        else { return nil }
        return [Int](repeating: cache, count: 2 * config.layerCount)
            + [nc, nc, n3c, nc, nc, n4c, n4c, n, n, bc, bc, bv, scratch]
    }

    /// A session of `batch` slots, each for up to the model's context length; one pass holds up to
    /// `rows` tokens over all slots (default batch × context, which `append` of a whole context
    /// needs). Refuses a session whose cache, with the model, would not fit in memory.
    public init(model: GPT, batch: Int = 1, rows: Int? = nil) throws {
        let config = model.config
        guard batch >= 1 else { throw GPTError.shapeMismatch(expected: 1, got: batch, what: "sequences in a session (at least)") }
        if let rows, rows < batch { throw GPTError.shapeMismatch(expected: batch, got: rows, what: "rows per pass (at least one per slot)") }
        let what = "generation of \(batch) sequences of \(config.contextLength) tokens"
        try MemoryBudget.require(Checked.sum(config.sessionBytes(batch: batch, rows: rows, threads: model.pool.threadCount),
                                             config.parameterBytes, what: what), for: what)
        self.model = model
        self.batch = batch
        rowCapacity = rows ?? batch * config.contextLength
        lengths = [Int](repeating: 0, count: batch)
        capacity = CachedAttention.capacity(for: config.contextLength)
        arena = Arena(Self.sizes(config: config, batch: batch, rows: rows, threads: model.pool.threadCount)!, zeroed: false)
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

    /// Forgets every cached position of every slot.
    public func reset() { for s in lengths.indices { lengths[s] = 0 } }

    /// Forgets the cached positions of `slot`.
    public func reset(slot: Int) { lengths[slot] = 0 }

    /// Runs `tokens` ([B, count], row-major) at positions length..<length+count of every slot and
    /// returns the logits of each sequence's last new position: [B, V], valid until the next call.
    public func append(_ tokens: [Int32], count tn: Int) throws -> UnsafeBufferPointer<Float> {
        guard tn >= 1 else { throw GPTError.sequenceTooLong(length: length, contextLength: model.config.contextLength) }
        guard tokens.count == batch * tn else { throw GPTError.shapeMismatch(expected: batch * tn, got: tokens.count, what: "tokens") }
        return try step((0..<batch).map { (slot: $0, tokens: Array(tokens[($0 * tn)..<(($0 + 1) * tn)])) })
    }

    /// Extends each listed slot (each at most once) by its tokens, in one forward pass, and returns
    /// the logits of each entry's last new position: [entries, V] in the order given, valid until
    /// the next call.
    public func step(_ entries: [(slot: Int, tokens: [Int32])]) throws -> UnsafeBufferPointer<Float> {
        let config = model.config, c = config.embeddingSize, v = config.vocabSize
        var segments: [CachedAttention.Segment] = []
        var seen = Set<Int>(), rows = 0
        for (slot, tokens) in entries {
            guard (0..<batch).contains(slot), seen.insert(slot).inserted else {
                throw GPTError.shapeMismatch(expected: batch, got: slot, what: "slot (each of 0..<\(batch) at most once per step)")
            }
            guard !tokens.isEmpty, lengths[slot] + tokens.count <= config.contextLength else {
                throw GPTError.sequenceTooLong(length: lengths[slot] + max(1, tokens.count), contextLength: config.contextLength)
            }
            segments.append(CachedAttention.Segment(slot: slot, row: rows, count: tokens.count, past: lengths[slot]))
            rows += tokens.count
        }
        guard !segments.isEmpty else { throw GPTError.shapeMismatch(expected: 1, got: 0, what: "sequences in a step (at least)") }
        guard rows <= rowCapacity else { throw GPTError.shapeMismatch(expected: rowCapacity, got: rows, what: "tokens in one step (at most)") }
        let ids = entries.flatMap { $0.tokens }
        let layout = model.layout, p = model.parameters, pool = model.pool
        let cache = GPT.KVCache(keys: keys, values: values, capacity: capacity, segments: segments)
        try ids.withUnsafeBufferPointer { ids in
            try GPT.checkTokens(ids, vocabSize: v, ignoring: nil)
            _ = model.trunk(tokens: ids.baseAddress!, encoded: x, block: { _ in block }, batch: 1, seq: rows,
                            scratch: scratch, cache: cache)
        }
        // Only the last new position of each entry needs logits.
        for (e, s) in segments.enumerated() { (last + e * c).update(from: x + (s.row + s.count - 1) * c, count: c) }
        let m = segments.count
        LayerNorm.forward(out: lastNorm, mean: mean, rstd: rstd, inp: last, weight: p + layout.lnfWeight,
                          bias: layout.lnfBias.map { UnsafePointer(p + $0) }, rows: m, channels: c,
                          eps: config.layerNormEpsilon, pool: pool)
        // logits[m, V] = lnf(last)[m, C] · wte[V, C]ᵀ
        model.languageModelHead(logits: logits, hidden: lastNorm, rows: m)
        for s in segments { lengths[s.slot] += s.count }
        return UnsafeBufferPointer(start: logits, count: m * v)
    }
}
