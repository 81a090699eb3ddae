// Incremental inference with a key/value cache: `append` runs only the new tokens
// through the model (a prefill of a prompt, or one token per step), reading the keys
// and values of earlier positions from per-layer caches preallocated for the context
// length. Several sequences advance together, all of the same length.
import GPTKernels

public final class InferenceSession {
    public let model: GPT
    public let batch: Int
    /// Tokens cached per sequence so far.
    public private(set) var length = 0
    let capacity: Int
    let keys: [UnsafeMutablePointer<Float>]    // per layer [B, NH, hs, capacity], transposed
    let values: [UnsafeMutablePointer<Float>]  // per layer [B, NH, capacity, hs]
    let work: UnsafeMutablePointer<Float>
    let x, ln, qkv, atty, proj, fc, fcAct, mean, rstd, last, lastNorm, logits, scratch: UnsafeMutablePointer<Float>

    /// A session for `batch` sequences of up to the model's context length.
    public init(model: GPT, batch: Int = 1) {
        let config = model.config, c = config.embeddingSize, t = config.contextLength, v = config.vocabSize
        self.model = model
        self.batch = batch
        capacity = CachedAttention.capacity(for: t)
        let cacheSize = batch * c * capacity
        keys = (0..<config.layerCount).map { _ in GPT.allocate(cacheSize) }
        values = (0..<config.layerCount).map { _ in GPT.allocate(cacheSize) }
        let n = batch * t
        let sizes = [n * c, n * c, n * 3 * c, n * c, n * c, n * 4 * c, n * 4 * c, n, n, batch * c, batch * c, batch * v,
                     model.pool.threadCount * 4 * capacity]
        let padded = sizes.map { ($0 + 15) / 16 * 16 }
        work = GPT.allocate(padded.reduce(0, +))
        var cursor = work
        var buffers: [UnsafeMutablePointer<Float>] = []
        for size in padded { buffers.append(cursor); cursor += size }
        (x, ln, qkv, atty, proj, fc, fcAct, mean, rstd) =
            (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5], buffers[6], buffers[7], buffers[8])
        (last, lastNorm, logits, scratch) = (buffers[9], buffers[10], buffers[11], buffers[12])
    }

    deinit {
        for p in keys + values { p.deallocate() }
        work.deallocate()
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
        for (i, token) in tokens.enumerated() where token < 0 || Int(token) >= v {
            throw GPTError.tokenOutOfRange(position: i, token: Int(token), vocabSize: v)
        }
        let layout = model.layout, p = model.parameters, pool = model.pool, n = batch * tn
        let eps = config.layerNormEpsilon
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { UnsafePointer(p + $0) } }
        let positions = UnsafePointer(layout.wpe.map { p + $0 } ?? model.positionTable!) + length * c
        tokens.withUnsafeBufferPointer { ids in
            Embedding.forward(out: x, tokens: ids.baseAddress!, wte: p + layout.wte, wpe: positions,
                              batch: batch, seq: tn, channels: c, pool: pool)
        }
        for (l, w) in layout.blocks.enumerated() {
            LayerNorm.forward(out: ln, mean: mean, rstd: rstd, inp: x, weight: p + w.ln1Weight, bias: bias(w.ln1Bias),
                              rows: n, channels: c, eps: eps, pool: pool)
            Linear.forward(out: qkv, inp: ln, weight: p + w.attnWeight, bias: bias(w.attnBias),
                           rows: n, inChannels: c, outChannels: 3 * c, pool: pool)
            CachedAttention.forward(out: atty, qkv: qkv, keys: keys[l], values: values[l], scratch: scratch,
                                    batch: batch, newCount: tn, past: length, capacity: capacity, channels: c,
                                    heads: config.headCount, pool: pool)
            Linear.forward(out: proj, inp: atty, weight: p + w.attnProjWeight, bias: bias(w.attnProjBias),
                           rows: n, inChannels: c, outChannels: c, pool: pool)
            Residual.forward(out: x, x, proj, count: n * c, pool: pool)
            LayerNorm.forward(out: ln, mean: mean, rstd: rstd, inp: x, weight: p + w.ln2Weight, bias: bias(w.ln2Bias),
                              rows: n, channels: c, eps: eps, pool: pool)
            Linear.forward(out: fc, inp: ln, weight: p + w.fcWeight, bias: bias(w.fcBias),
                           rows: n, inChannels: c, outChannels: 4 * c, pool: pool)
            switch config.activation {
            case .gelu: GELU.forward(out: fcAct, inp: fc, count: n * 4 * c, pool: pool)
            case .relu: ReLU.forward(out: fcAct, inp: fc, count: n * 4 * c, pool: pool)
            }
            Linear.forward(out: proj, inp: fcAct, weight: p + w.fcProjWeight, bias: bias(w.fcProjBias),
                           rows: n, inChannels: 4 * c, outChannels: c, pool: pool)
            Residual.forward(out: x, x, proj, count: n * c, pool: pool)
        }
        // Only the last position of each sequence needs logits.
        for b in 0..<batch { (last + b * c).update(from: x + (b * tn + tn - 1) * c, count: c) }
        LayerNorm.forward(out: lastNorm, mean: mean, rstd: rstd, inp: last, weight: p + layout.lnfWeight,
                          bias: bias(layout.lnfBias), rows: batch, channels: c, eps: eps, pool: pool)
        GEMM.multiply(logits, ldc: v, lastNorm, lda: c, .normal, p + layout.wte, ldb: c, .transposed,
                      m: batch, n: v, k: c, accumulate: false, pool: pool)
        length += tn
        return UnsafeBufferPointer(start: logits, count: batch * v)
    }
}
