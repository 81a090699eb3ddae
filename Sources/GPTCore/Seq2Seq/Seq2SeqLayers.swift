// The layers of the encoder–decoder Transformer, forward and backward side by side:
// nn.TransformerEncoderLayer (self-attention, feed-forward) and nn.TransformerDecoderLayer
// (causal self-attention, cross-attention, feed-forward), each sub-layer a residual with its
// LayerNorm after (post-LN) or before (pre-LN) the branch. One `layerForward` serves training
// and cached decoding: with a cache, self-attention appends the new positions' keys and values
// and attends to every cached one (CachedAttention), and cross-attention reads keys and values
// projected once from the memory.
//
// Dropout sites of a layer (offsets from its `site`): 0 self-attention weights, 1 self-attention
// output, 2 cross-attention weights, 3 cross-attention output, 4 feed-forward hidden, 5 feed-forward output.
import GPTKernels

/// What one decoder layer's cross-attention reads: keys and values kv [Bk, S, 2C] (the memory
/// through in_proj's k and v blocks), the valid keys of each kv row, and (for beams sharing a
/// source) the kv row of each query row.
struct CrossLayer {
    let kv: UnsafeMutablePointer<Float>
    let keyLengths: UnsafePointer<Int32>
    let keyBatch: UnsafePointer<Int32>?
    let keys: Int
}

/// The same for every decoder layer.
struct CrossInput {
    let kv: [UnsafeMutablePointer<Float>]
    let keyLengths: UnsafePointer<Int32>
    let keyBatch: UnsafePointer<Int32>?
    let keys: Int
    func layer(_ l: Int) -> CrossLayer { CrossLayer(kv: kv[l], keyLengths: keyLengths, keyBatch: keyBatch, keys: keys) }
}

/// The decoder's self-attention caches (CachedAttention's layout) and the rows of this call.
struct SelfAttentionCache {
    let keys: [UnsafeMutablePointer<Float>]    // per layer [slots, NH, hs, capacity], transposed
    let values: [UnsafeMutablePointer<Float>]  // per layer [slots, NH, capacity, hs]
    let capacity: Int
    let segments: [CachedAttention.Segment]
    func layer(_ l: Int) -> CachedLayer { CachedLayer(keys: keys[l], values: values[l], capacity: capacity, segments: segments) }
}

struct CachedLayer {
    let keys, values: UnsafeMutablePointer<Float>
    let capacity: Int
    let segments: [CachedAttention.Segment]
}

extension Seq2SeqTransformer {
    typealias Layer = Seq2SeqActivations.Layer
    typealias Sublayer = Seq2SeqActivations.Sublayer

    /// One encoder layer (cross nil) or decoder layer. input: [B·T, C]; returns the output [B·T, C].
    /// selfLengths: [B] valid keys of self-attention (nil with a cache).
    func layerForward(_ s: Layer, _ w: Seq2SeqLayout.Layer, input: UnsafePointer<Float>, batch b: Int, seq t: Int,
                      selfLengths: UnsafePointer<Int32>?, causal: Bool, cross: CrossLayer?, cache: CachedLayer?,
                      scratch: UnsafeMutablePointer<Float>, site: UInt64) -> UnsafeMutablePointer<Float> {
        let n = b * t, training = isTraining && cache == nil
        var x = sublayerForward(s.attention, w.norm1, input: input, rows: n, training: training, site: site + 1) { h, out in
            selfAttentionForward(s.selfAttention, w.selfAttention, out: out, h: h, batch: b, seq: t, lengths: selfLengths,
                                 causal: causal, cache: cache, scratch: scratch, training: training, site: site)
        }
        if let cross, let xs = s.cross, let xw = w.crossAttention {
            x = sublayerForward(xs, w.norm2, input: x, rows: n, training: training, site: site + 3) { h, out in
                crossAttentionForward(s.crossAttention!, xw, out: out, h: h, batch: b, seq: t, cross: cross,
                                      scratch: scratch, training: training, site: site + 2)
            }
        }
        return sublayerForward(s.feedForward, w.norm3 ?? w.norm2, input: x, rows: n, training: training, site: site + 5) { h, out in
            feedForwardForward(s, w, out: out, h: h, rows: n, training: training, site: site + 4)
        }
    }

    /// On entry a.dX holds d(output) [B·T, C]; on exit d(input). Decoder layers leave d(kv) of their
    /// cross-attention in a.dKV (projectMemoryBackward takes it to the memory).
    func layerBackward(_ a: Seq2SeqActivations, _ s: Layer, _ w: Seq2SeqLayout.Layer, input: UnsafePointer<Float>,
                       batch b: Int, seq t: Int, selfLengths: UnsafePointer<Int32>, causal: Bool, cross: CrossLayer?, site: UInt64) {
        let n = b * t
        let afterAttention = UnsafePointer(sublayerOutput(s.attention))
        let afterCross = s.cross.map { UnsafePointer(sublayerOutput($0)) } ?? afterAttention
        sublayerBackward(a, s.feedForward, w.norm3 ?? w.norm2, input: afterCross, rows: n, site: site + 5) { h, dOut, dIn in
            feedForwardBackward(a, s, w, dIn: dIn, dOut: dOut, h: h, rows: n, site: site + 4)
        }
        if let cross, let xs = s.cross, let xw = w.crossAttention {
            sublayerBackward(a, xs, w.norm2, input: afterAttention, rows: n, site: site + 3) { h, dOut, dIn in
                crossAttentionBackward(a, s.crossAttention!, xw, dIn: dIn, dOut: dOut, h: h, batch: b, seq: t, cross: cross,
                                       site: site + 2)
            }
        }
        sublayerBackward(a, s.attention, w.norm1, input: input, rows: n, site: site + 1) { h, dOut, dIn in
            selfAttentionBackward(a, s.selfAttention, w.selfAttention, dIn: dIn, dOut: dOut, h: h, batch: b, seq: t,
                                  lengths: selfLengths, causal: causal, site: site)
        }
    }

    func layerOutput(_ s: Layer) -> UnsafeMutablePointer<Float> { sublayerOutput(s.feedForward) }

    func sublayerOutput(_ s: Sublayer) -> UnsafeMutablePointer<Float> { config.normFirst ? s.sum : s.norm }

    // MARK: Residual sub-layer

    /// post-LN: norm = LN(input + dropout(branch(input))); pre-LN: sum = input + dropout(branch(LN(input))).
    /// `branch(h, out)` writes its output [N, C] from its input h [N, C]. Returns the sub-layer's output.
    func sublayerForward(_ s: Sublayer, _ norm: Seq2SeqLayout.Norm, input: UnsafePointer<Float>, rows n: Int, training: Bool,
                         site: UInt64, branch: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> UnsafeMutablePointer<Float> {
        let c = config.modelSize, p = parameters, eps = config.layerNormEpsilon
        if config.normFirst {
            LayerNorm.forward(out: s.norm, mean: s.mean, rstd: s.rstd, inp: input, weight: p + norm.weight, bias: p + norm.bias,
                              rows: n, channels: c, eps: eps, pool: pool)
            branch(s.norm, s.branch)
        } else {
            branch(input, s.branch)
        }
        if training { dropout(s.branch, n * c, site: site) }
        Residual.forward(out: s.sum, input, s.branch, count: n * c, pool: pool)
        guard !config.normFirst else { return s.sum }
        LayerNorm.forward(out: s.norm, mean: s.mean, rstd: s.rstd, inp: s.sum, weight: p + norm.weight, bias: p + norm.bias,
                          rows: n, channels: c, eps: eps, pool: pool)
        return s.norm
    }

    /// On entry a.dX holds d(output), on exit d(input). `branch(h, dOut, dIn)` writes d(h) [N, C] (=)
    /// from d(branch output), h being the branch's input; it may use a.dC, a.d3C, a.dF, a.dKV.
    func sublayerBackward(_ a: Seq2SeqActivations, _ s: Sublayer, _ norm: Seq2SeqLayout.Norm, input: UnsafePointer<Float>,
                          rows n: Int, site: UInt64,
                          branch: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let c = config.modelSize, p = parameters, g = gradients!
        if config.normFirst {
            // dinput = doutput + LN'(d branch input)
            let dBranch = dropoutGradient(from: a.dX, into: a.dA, count: n * c, site: site)
            branch(s.norm, dBranch, a.dB)
            LayerNorm.backward(dinp: a.dX, dweight: g + norm.weight, dbias: g + norm.bias, dout: a.dB, inp: input,
                               weight: p + norm.weight, mean: s.mean, rstd: s.rstd, rows: n, channels: c, pool: pool)
        } else {
            // dsum = LN'(doutput); dinput = dsum + branch'(dsum)
            a.dA.update(repeating: 0, count: n * c)
            LayerNorm.backward(dinp: a.dA, dweight: g + norm.weight, dbias: g + norm.bias, dout: a.dX, inp: s.sum,
                               weight: p + norm.weight, mean: s.mean, rstd: s.rstd, rows: n, channels: c, pool: pool)
            let dBranch = dropoutGradient(from: a.dA, into: a.dX, count: n * c, site: site)
            branch(input, dBranch, a.dB)
            Residual.forward(out: a.dX, a.dA, a.dB, count: n * c, pool: pool)
        }
    }

    /// `from` itself, or its copy through this site's dropout mask in `into`.
    private func dropoutGradient(from: UnsafeMutablePointer<Float>, into: UnsafeMutablePointer<Float>, count: Int,
                                 site: UInt64) -> UnsafePointer<Float> {
        guard activeDropout > 0 else { return UnsafePointer(from) }
        Dropout.backward(dinp: into, dout: from, count: count, probability: activeDropout, key: key(site: site), pool: pool)
        return UnsafePointer(into)
    }

    // MARK: Self-attention

    /// out: [N, C] = out_proj(attention(in_proj(h))); h: [N, C], N = B·T.
    private func selfAttentionForward(_ s: Seq2SeqActivations.AttentionBuffers, _ w: Seq2SeqLayout.Attention,
                                      out: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>, batch b: Int, seq t: Int,
                                      lengths: UnsafePointer<Int32>?, causal: Bool, cache: CachedLayer?,
                                      scratch: UnsafeMutablePointer<Float>, training: Bool, site: UInt64) {
        let n = b * t, c = config.modelSize, p = parameters
        Linear.forward(out: s.projected, inp: h, weight: p + w.inWeight, bias: p + w.inBias, rows: n, inChannels: c,
                       outChannels: 3 * c, pool: pool)
        if let cache {
            CachedAttention.forward(out: s.y, qkv: s.projected, keys: cache.keys, values: cache.values, scratch: scratch,
                                    segments: cache.segments, capacity: cache.capacity, channels: c,
                                    heads: config.headCount, pool: pool)
        } else {
            MaskedAttention.forward(out: s.y, ldo: c, att: s.att, q: s.projected, ldq: 3 * c, k: s.projected + c, ldk: 3 * c,
                                    v: s.projected + 2 * c, ldv: 3 * c, keyLengths: lengths, causal: causal, scratch: scratch,
                                    batch: b, queries: t, keys: t, channels: c, heads: config.headCount,
                                    dropout: training ? config.dropout : 0, key: key(site: site), pool: pool)
        }
        Linear.forward(out: out, inp: s.y, weight: p + w.outWeight, bias: p + w.outBias, rows: n, inChannels: c,
                       outChannels: c, pool: pool)
    }

    private func selfAttentionBackward(_ a: Seq2SeqActivations, _ s: Seq2SeqActivations.AttentionBuffers,
                                       _ w: Seq2SeqLayout.Attention, dIn: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                       h: UnsafePointer<Float>, batch b: Int, seq t: Int, lengths: UnsafePointer<Int32>,
                                       causal: Bool, site: UInt64) {
        let n = b * t, c = config.modelSize, p = parameters, g = gradients!
        Linear.backward(dinp: a.dC, dweight: g + w.outWeight, dbias: g + w.outBias, dout: dOut, inp: s.y,
                        weight: p + w.outWeight, rows: n, inChannels: c, outChannels: c, accumulateInput: false, pool: pool)
        MaskedAttention.backward(dq: a.d3C, ldq: 3 * c, dk: a.d3C + c, ldk: 3 * c, dv: a.d3C + 2 * c, ldv: 3 * c,
                                 dout: a.dC, ldo: c, att: s.att, q: s.projected, qStride: 3 * c,
                                 k: s.projected + c, kStride: 3 * c, v: s.projected + 2 * c, vStride: 3 * c,
                                 keyLengths: lengths, causal: causal, scratch: a.attentionScratch, batch: b, queries: t, keys: t,
                                 channels: c, heads: config.headCount, dropout: activeDropout, key: key(site: site), pool: pool)
        Linear.backward(dinp: dIn, dweight: g + w.inWeight, dbias: g + w.inBias, dout: a.d3C, inp: h, weight: p + w.inWeight,
                        rows: n, inChannels: c, outChannels: 3 * c, accumulateInput: false, pool: pool)
    }

    // MARK: Cross-attention

    /// kv: [Ns, 2C] = memory [Ns, C] · in_proj's k and v columns + their biases (once per source).
    func projectMemory(kv: UnsafeMutablePointer<Float>, memory: UnsafePointer<Float>, layer w: Seq2SeqLayout.Layer, rows ns: Int) {
        let c = config.modelSize, p = parameters, x = w.crossAttention!
        fillRows(kv, bias: p + x.inBias + c, rows: ns, width: 2 * c)
        GEMM.multiply(kv, ldc: 2 * c, memory, lda: c, .normal, p + x.inWeight + c, ldb: 3 * c, .normal,
                      m: ns, n: 2 * c, k: c, accumulate: true, pool: pool)
    }

    /// dmemory [Ns, C] += dkv [Ns, 2C] · W_kvᵀ; dW_kv += memoryᵀ · dkv; db_kv += Σ rows of dkv.
    func projectMemoryBackward(_ a: Seq2SeqActivations, layer w: Seq2SeqLayout.Layer, rows ns: Int) {
        let c = config.modelSize, p = parameters, g = gradients!, x = w.crossAttention!
        GEMM.multiply(a.dMemory, ldc: c, a.dKV, lda: 2 * c, .normal, p + x.inWeight + c, ldb: 3 * c, .transposed,
                      m: ns, n: c, k: 2 * c, accumulate: true, pool: pool)
        GEMM.multiply(g + x.inWeight + c, ldc: 3 * c, a.memory, lda: c, .transposed, a.dKV, ldb: 2 * c, .normal,
                      m: c, n: 2 * c, k: ns, accumulate: true, pool: pool)
        Linear.columnSums(into: g + x.inBias + c, a.dKV, rows: ns, columns: 2 * c, pool: pool)
    }

    /// out: [N, C] = out_proj(attention(q = h · W_q + b_q, keys and values `cross.kv`)); h: [N, C].
    private func crossAttentionForward(_ s: Seq2SeqActivations.AttentionBuffers, _ w: Seq2SeqLayout.Attention,
                                       out: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>, batch b: Int, seq t: Int,
                                       cross: CrossLayer, scratch: UnsafeMutablePointer<Float>, training: Bool, site: UInt64) {
        let n = b * t, c = config.modelSize, p = parameters
        fillRows(s.projected, bias: p + w.inBias, rows: n, width: c)
        GEMM.multiply(s.projected, ldc: c, h, lda: c, .normal, p + w.inWeight, ldb: 3 * c, .normal,
                      m: n, n: c, k: c, accumulate: true, pool: pool)
        MaskedAttention.forward(out: s.y, ldo: c, att: s.att, q: s.projected, ldq: c, k: cross.kv, ldk: 2 * c,
                                v: cross.kv + c, ldv: 2 * c, keyLengths: cross.keyLengths, keyBatch: cross.keyBatch,
                                causal: false, scratch: scratch, batch: b, queries: t, keys: cross.keys, channels: c,
                                heads: config.headCount, dropout: training ? config.dropout : 0, key: key(site: site), pool: pool)
        Linear.forward(out: out, inp: s.y, weight: p + w.outWeight, bias: p + w.outBias, rows: n, inChannels: c,
                       outChannels: c, pool: pool)
    }

    /// Writes d(h) into dIn and d(kv) into a.dKV.
    private func crossAttentionBackward(_ a: Seq2SeqActivations, _ s: Seq2SeqActivations.AttentionBuffers,
                                        _ w: Seq2SeqLayout.Attention, dIn: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                        h: UnsafePointer<Float>, batch b: Int, seq t: Int, cross: CrossLayer, site: UInt64) {
        let n = b * t, c = config.modelSize, p = parameters, g = gradients!
        Linear.backward(dinp: a.dC, dweight: g + w.outWeight, dbias: g + w.outBias, dout: dOut, inp: s.y,
                        weight: p + w.outWeight, rows: n, inChannels: c, outChannels: c, accumulateInput: false, pool: pool)
        let dq = a.d3C  // [N, C]
        MaskedAttention.backward(dq: dq, ldq: c, dk: a.dKV, ldk: 2 * c, dv: a.dKV + c, ldv: 2 * c, dout: a.dC, ldo: c,
                                 att: s.att, q: s.projected, qStride: c, k: cross.kv, kStride: 2 * c, v: cross.kv + c,
                                 vStride: 2 * c, keyLengths: cross.keyLengths, causal: false, scratch: a.attentionScratch,
                                 batch: b, queries: t, keys: cross.keys, channels: c, heads: config.headCount,
                                 dropout: activeDropout, key: key(site: site), pool: pool)
        // dh[N, C] = dq · W_qᵀ;  dW_q += hᵀ · dq;  db_q += Σ rows of dq
        GEMM.multiply(dIn, ldc: c, dq, lda: c, .normal, p + w.inWeight, ldb: 3 * c, .transposed,
                      m: n, n: c, k: c, accumulate: false, pool: pool)
        GEMM.multiply(g + w.inWeight, ldc: 3 * c, h, lda: c, .transposed, dq, ldb: c, .normal,
                      m: c, n: c, k: n, accumulate: true, pool: pool)
        Linear.columnSums(into: g + w.inBias, dq, rows: n, columns: c, pool: pool)
    }

    // MARK: Feed-forward

    /// out: [N, C] = linear2(dropout(relu(linear1(h)))); h: [N, C], hidden [N, F].
    private func feedForwardForward(_ s: Layer, _ w: Seq2SeqLayout.Layer, out: UnsafeMutablePointer<Float>,
                                    h: UnsafePointer<Float>, rows n: Int, training: Bool, site: UInt64) {
        let c = config.modelSize, f = config.feedForwardSize, p = parameters
        Linear.forward(out: s.hidden, inp: h, weight: p + w.linear1Weight, bias: p + w.linear1Bias, rows: n, inChannels: c,
                       outChannels: f, pool: pool)
        ReLU.forward(out: s.activated, inp: s.hidden, count: n * f, pool: pool)
        if training { dropout(s.activated, n * f, site: site) }
        Linear.forward(out: out, inp: s.activated, weight: p + w.linear2Weight, bias: p + w.linear2Bias, rows: n,
                       inChannels: f, outChannels: c, pool: pool)
    }

    private func feedForwardBackward(_ a: Seq2SeqActivations, _ s: Layer, _ w: Seq2SeqLayout.Layer,
                                     dIn: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, h: UnsafePointer<Float>,
                                     rows n: Int, site: UInt64) {
        let c = config.modelSize, f = config.feedForwardSize, p = parameters, g = gradients!
        Linear.backward(dinp: a.dF, dweight: g + w.linear2Weight, dbias: g + w.linear2Bias, dout: dOut, inp: s.activated,
                        weight: p + w.linear2Weight, rows: n, inChannels: f, outChannels: c, accumulateInput: false, pool: pool)
        dropoutBackward(a.dF, n * f, site: site)
        ReLU.backward(dinp: a.dF, dout: a.dF, inp: s.hidden, count: n * f, pool: pool)
        Linear.backward(dinp: dIn, dweight: g + w.linear1Weight, dbias: g + w.linear1Bias, dout: a.dF, inp: h,
                        weight: p + w.linear1Weight, rows: n, inChannels: c, outChannels: f, accumulateInput: false, pool: pool)
    }

    /// out: [rows, width] ← bias: [width] in every row.
    private func fillRows(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
        pool.parallelFor(rows) { range in
            for r in range { (out + r * width).update(from: bias, count: width) }
        }
    }
}
