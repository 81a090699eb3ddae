// The encoder–decoder Transformer of "Attention Is All You Need", computed exactly as
// torch.nn.Transformer(batch_first=True, activation="relu") between scaled embeddings and a
// tied output projection (Tests/scripts/make_seq2seq_reference.py is the reference):
//
//   x = √d · E_src[source] + pe;   memory = encoder.norm(EncoderLayer^N(x))
//   y = √d · E_tgt[target_in] + pe; h = decoder.norm(DecoderLayer^N(y, memory));  logits = h · E_tgtᵀ
//
// Encoder layer: self-attention (source padding masked), then a ReLU feed-forward layer; decoder
// layer: causal self-attention (target padding masked), cross-attention over the memory (source
// padding masked), then the feed-forward layer. Each is a residual sub-layer with LayerNorm after
// it (post-LN, the paper's and nn.Transformer's default) or before it (`normFirst`). As in
// nn.Transformer, encoder.norm and decoder.norm exist in both placements.
//
// Forward and backward are written op by op on GPTKernels (as GPT.swift is); the layers are in
// Seq2SeqLayers.swift, shared by training and cached decoding (Seq2SeqDecoder).
import Foundation
import GPTKernels

public enum Seq2SeqError: Error, CustomStringConvertible, Equatable {
    case lengthOutOfRange(what: String, row: Int, length: Int, maximum: Int)
    case tooLong(what: String, length: Int, maxPositions: Int)

    public var description: String {
        switch self {
        case let .lengthOutOfRange(what, row, length, maximum):
            return "\(what) length \(length) of row \(row) is outside 0...\(maximum)"
        case let .tooLong(what, length, maxPositions):
            return "\(what) of \(length) tokens exceeds the model's max_position_embeddings \(maxPositions)"
        }
    }
}

public final class Seq2SeqTransformer {
    public let config: Seq2SeqConfig
    public let layout: Seq2SeqLayout
    /// All parameters, in `layout` order.
    public let parameters: UnsafeMutablePointer<Float>
    /// Gradients in the same layout; allocated by the first `backward`/`zeroGradients`.
    public private(set) var gradients: UnsafeMutablePointer<Float>?
    public let pool: ThreadPool
    /// The sinusoidal table [maxPositions, C].
    let positionTable: UnsafeMutablePointer<Float>
    let embeddingScale: Float

    /// Dropout is applied only while training.
    public var isTraining = false
    /// Seeds dropout; with `passCount`, fixes every dropout mask.
    public var dropoutSeed: UInt64 = 0
    /// Training forward passes run so far (each draws fresh dropout masks).
    public var passCount: UInt64 = 0
    var currentPass: UInt64 = 0

    private var activations: Seq2SeqActivations?
    private var current = (batch: 0, source: 0, target: 0)
    private var validTargets = 0

    /// A model initialised as nn.Transformer does (Xavier-uniform matrices, zero biases, unit LayerNorm
    /// gains), with embedding tables N(0, d^-½) (fairseq's choice for √d-scaled embeddings).
    public convenience init(config: Seq2SeqConfig, seed: UInt64, pool: ThreadPool) throws {
        try self.init(config: config, pool: pool)
        var rng = SplitMix64(seed: seed)
        for tensor in layout.tensors {
            let p = parameters + tensor.offset
            if tensor.shape.count == 2 && !Seq2SeqLayout.isTransposed(tensor) {
                rng.fillNormal(p, count: tensor.count, std: 1 / Float(config.modelSize).squareRoot())
            } else if tensor.shape.count == 2 {
                let bound = (6 / Double(tensor.shape[0] + tensor.shape[1])).squareRoot()
                for i in 0..<tensor.count { p[i] = Float((rng.nextUnitInterval() * 2 - 1) * bound) }
            } else {
                p.update(repeating: tensor.name.contains("norm") && tensor.name.hasSuffix(".weight") ? 1 : 0, count: tensor.count)
            }
        }
    }

    /// A model with all parameters zero, to be filled by a loader. Refuses a config out of range
    /// or whose parameters would not fit in this machine's memory.
    public init(config: Seq2SeqConfig, pool: ThreadPool) throws {
        try config.validate()
        try MemoryBudget.require(config.parameterBytes, for: "a model of \(try config.parameterCount()) parameters")
        self.config = config
        layout = Seq2SeqLayout(config)
        self.pool = pool
        parameters = GPT.allocate(layout.count)
        parameters.update(repeating: 0, count: layout.count)
        positionTable = GPT.allocate(config.maxPositions * config.modelSize)
        Embedding.sinusoidalTable(positionTable, positions: config.maxPositions, channels: config.modelSize)
        embeddingScale = Float(config.modelSize).squareRoot()
    }

    deinit {
        parameters.deallocate()
        gradients?.deallocate()
        positionTable.deallocate()
    }

    public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(start: parameters + $0.offset, count: $0.count) }
    }

    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        guard let gradients, let t = layout[name] else { return nil }
        return UnsafeMutableBufferPointer(start: gradients + t.offset, count: t.count)
    }

    public func zeroGradients() {
        if gradients == nil { gradients = GPT.allocate(layout.count) }
        gradients!.update(repeating: 0, count: layout.count)
    }

    /// Logits of the last forward pass: [B, T, V]. Overwritten by their gradient in `backward`.
    public var logits: UnsafeMutableBufferPointer<Float> {
        guard let a = activations else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
        return UnsafeMutableBufferPointer(start: a.logits, count: current.batch * current.target * config.vocabSize)
    }

    /// The global L2 norm of the gradients.
    public func gradientNorm() -> Double {
        guard let g = gradients else { return 0 }
        return Reduction.sumOfSquares(g, count: layout.count, pool: pool).squareRoot()
    }

    /// One AdamW update of the parameters from the gradients (first clipped to `maxGradientNorm`);
    /// returns the norm before clipping.
    @discardableResult
    public func step(_ optimizer: AdamW, learningRate: Float, maxGradientNorm: Float? = nil) -> Double {
        guard let g = gradients else { return 0 }
        let norm = gradientNorm()
        let scale = maxGradientNorm.map { AdamW.clippingScale(norm: norm, maxNorm: $0) } ?? 1
        optimizer.update(parameters: parameters, gradients: g, tensors: layout.tensors, learningRate: learningRate,
                         gradientScale: scale, pool: pool)
        return norm
    }

    // MARK: Forward

    /// Runs the model on `batch`; with targets, returns the mean cross-entropy over the non-ignored
    /// target positions (0 if there is none). Logits are in `logits`.
    @discardableResult
    public func forward(_ batch: Seq2SeqBatch) throws -> Float? {
        try check(batch)
        let b = batch.batch, s = batch.sourceLength, t = batch.targetLength
        let ns = b * s, nt = b * t, c = config.modelSize, v = config.vocabSize
        let a = try plan(batch: b, source: s, target: t)
        current = (b, s, t)
        batch.source.withUnsafeBufferPointer { a.sourceTokens.update(from: $0.baseAddress!, count: ns) }
        batch.targetInput.withUnsafeBufferPointer { a.targetTokens.update(from: $0.baseAddress!, count: nt) }
        batch.sourceLengths.withUnsafeBufferPointer { a.sourceLengths.update(from: $0.baseAddress!, count: b) }
        batch.targetLengths.withUnsafeBufferPointer { a.targetLengths.update(from: $0.baseAddress!, count: b) }
        if isTraining { passCount &+= 1 }
        currentPass = passCount

        encode(a, batch: b, source: s)
        let p = parameters
        let kvs = a.decoder.map { $0.crossAttention!.kv }
        for (l, kv) in kvs.enumerated() {
            projectMemory(kv: kv, memory: a.memory, layer: layout.decoderLayers[l], rows: ns)
        }
        let out = decode(a, tokens: a.targetTokens, batch: b, target: t, first: 0,
                         cross: CrossInput(kv: kvs, keyLengths: a.sourceLengths, keyBatch: nil, keys: s), cache: nil)
        // Tied output projection: logits[N, V] = hidden[N, C] · E_tgt[V, C]ᵀ
        GEMM.multiply(a.logits, ldc: v, out, lda: c, .normal, p + layout.targetEmbedding, ldb: c, .transposed,
                      m: nt, n: v, k: c, accumulate: false, pool: pool)
        validTargets = 0
        guard !batch.targets.isEmpty else { return nil }
        batch.targets.withUnsafeBufferPointer { a.targets.update(from: $0.baseAddress!, count: nt) }
        CrossEntropy.forward(losses: a.losses, logits: a.logits, targets: a.targets, rows: nt, vocab: v, pool: pool)
        validTargets = batch.targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total: Double = 0
        for i in 0..<nt { total += Double(a.losses[i]) }
        return validTargets > 0 ? Float(total / Double(validTargets)) : 0
    }

    /// Embeds the source and runs the encoder stack and encoder.norm (if any) into a.memory ([B·S, C]).
    func encode(_ a: Seq2SeqActivations, batch b: Int, source s: Int) {
        let ns = b * s, c = config.modelSize, p = parameters
        ScaledEmbedding.forward(out: a.sourceEmbedded, tokens: a.sourceTokens, table: p + layout.sourceEmbedding,
                                scale: embeddingScale, positions: positionTable, first: 0, batch: b, seq: s,
                                channels: c, pool: pool)
        dropout(a.sourceEmbedded, ns * c, site: 0)
        var x = UnsafePointer(a.sourceEmbedded)
        for (l, w) in layout.encoderLayers.enumerated() {
            x = UnsafePointer(layerForward(a.encoder[l], w, input: x, batch: b, seq: s, selfLengths: a.sourceLengths,
                                           causal: false, cross: nil, cache: nil, scratch: a.attentionScratch, site: site(layer: l)))
        }
        stackNormForward(layout.encoderNorm, out: a.memory, mean: a.memoryMean, rstd: a.memoryRstd, input: x, rows: ns)
    }

    /// Embeds `tokens` ([B, T], at positions first..<first+T) and runs the decoder stack and
    /// decoder.norm (if any); returns the hidden states a.hidden [B·T, C].
    func decode(_ a: Seq2SeqActivations, tokens: UnsafePointer<Int32>, batch b: Int, target t: Int, first: Int,
                cross: CrossInput, cache: SelfAttentionCache?) -> UnsafeMutablePointer<Float> {
        let nt = b * t, c = config.modelSize, p = parameters
        ScaledEmbedding.forward(out: a.targetEmbedded, tokens: tokens, table: p + layout.targetEmbedding,
                                scale: embeddingScale, positions: positionTable, first: first, batch: b, seq: t,
                                channels: c, pool: pool)
        if cache == nil { dropout(a.targetEmbedded, nt * c, site: 1) }
        var y = UnsafePointer(a.targetEmbedded)
        for (l, w) in layout.decoderLayers.enumerated() {
            y = UnsafePointer(layerForward(a.decoder[l], w, input: y, batch: b, seq: t,
                                           selfLengths: cache == nil ? a.targetLengths : nil, causal: true,
                                           cross: cross.layer(l), cache: cache?.layer(l), scratch: a.attentionScratch,
                                           site: site(layer: config.encoderLayerCount + l)))
        }
        stackNormForward(layout.decoderNorm, out: a.hidden, mean: a.hiddenMean, rstd: a.hiddenRstd, input: y, rows: nt)
        return a.hidden
    }

    /// The LayerNorm after a stack (`encoder.norm`, `decoder.norm`) into `out` [rows, C]; without
    /// one (final_norm false), a copy of the stack's output.
    func stackNormForward(_ norm: Seq2SeqLayout.Norm?, out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                          rstd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int) {
        let c = config.modelSize, p = parameters
        guard let norm else { out.update(from: input, count: rows * c); return }
        LayerNorm.forward(out: out, mean: mean, rstd: rstd, inp: input, weight: p + norm.weight, bias: p + norm.bias,
                          rows: rows, channels: c, eps: config.layerNormEpsilon, pool: pool)
    }

    /// `stackNormForward`'s backward: writes dinput [rows, C] into `dinput` and adds the gain's and bias's gradients.
    func stackNormBackward(_ norm: Seq2SeqLayout.Norm?, into dinput: UnsafeMutablePointer<Float>, dout: UnsafeMutablePointer<Float>,
                           input: UnsafePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                           rows: Int) {
        let c = config.modelSize, p = parameters, g = gradients!
        guard let norm else { dinput.update(from: dout, count: rows * c); return }
        dinput.update(repeating: 0, count: rows * c)
        LayerNorm.backward(dinp: dinput, dweight: g + norm.weight, dbias: g + norm.bias, dout: dout, inp: input,
                           weight: p + norm.weight, mean: mean, rstd: rstd, rows: rows, channels: c, pool: pool)
    }

    // MARK: Backward

    /// Adds the gradient of `lossScale` × the last forward's mean loss to `gradients` (call
    /// `zeroGradients` first unless accumulating). Overwrites the logits with their gradient.
    public func backward(lossScale: Float = 1) throws {
        guard let a = activations, validTargets > 0 else { throw GPTError.backwardWithoutTargets }
        let nt = current.batch * current.target
        CrossEntropy.backward(dlogits: a.logits, logits: a.logits, targets: a.targets, rows: nt, vocab: config.vocabSize,
                              dloss: lossScale / Float(validTargets), pool: pool)
        backwardFromLogitGradient()
    }

    /// Backward from a gradient of the logits that the caller wrote into `logits` (another loss,
    /// e.g. label-smoothed cross-entropy): adds every parameter's gradient to `gradients`.
    public func backwardFromLogitGradient() {
        guard let a = activations else { return }
        if gradients == nil { zeroGradients() }
        let (b, s, t) = current
        let ns = b * s, nt = b * t, c = config.modelSize, v = config.vocabSize
        let p = parameters, g = gradients!
        // dhidden[N, C] = dlogits[N, V] · E[V, C];  dE[V, C] += dlogits[N, V]ᵀ · hidden[N, C]
        GEMM.multiply(a.dA, ldc: c, a.logits, lda: v, .normal, p + layout.targetEmbedding, ldb: c, .normal,
                      m: nt, n: c, k: v, accumulate: false, pool: pool)
        GEMM.multiply(g + layout.targetEmbedding, ldc: c, a.logits, lda: v, .transposed, a.hidden, ldb: c, .normal,
                      m: v, n: c, k: nt, accumulate: true, pool: pool)
        stackNormBackward(layout.decoderNorm, into: a.dX, dout: a.dA, input: layerOutput(a.decoder.last!), mean: a.hiddenMean,
                          rstd: a.hiddenRstd, rows: nt)
        a.dMemory.update(repeating: 0, count: ns * c)
        for l in stride(from: layout.decoderLayers.count - 1, through: 0, by: -1) {
            let input = l == 0 ? a.targetEmbedded : layerOutput(a.decoder[l - 1])
            let cross = CrossLayer(kv: a.decoder[l].crossAttention!.kv, keyLengths: a.sourceLengths, keyBatch: nil, keys: s)
            layerBackward(a, a.decoder[l], layout.decoderLayers[l], input: input, batch: b, seq: t,
                          selfLengths: a.targetLengths, causal: true, cross: cross, site: site(layer: config.encoderLayerCount + l))
            // The keys and values of cross-attention came from the memory: dmemory += dkv · W_kvᵀ.
            projectMemoryBackward(a, layer: layout.decoderLayers[l], rows: ns)
        }
        dropoutBackward(a.dX, nt * c, site: 1)
        ScaledEmbedding.backward(dtable: g + layout.targetEmbedding, dout: a.dX, tokens: a.targetTokens, scale: embeddingScale,
                                 rows: nt, channels: c, pool: pool)

        stackNormBackward(layout.encoderNorm, into: a.dX, dout: a.dMemory, input: layerOutput(a.encoder.last!),
                          mean: a.memoryMean, rstd: a.memoryRstd, rows: ns)
        for l in stride(from: layout.encoderLayers.count - 1, through: 0, by: -1) {
            let input = l == 0 ? a.sourceEmbedded : layerOutput(a.encoder[l - 1])
            layerBackward(a, a.encoder[l], layout.encoderLayers[l], input: input, batch: b, seq: s,
                          selfLengths: a.sourceLengths, causal: false, cross: nil, site: site(layer: l))
        }
        dropoutBackward(a.dX, ns * c, site: 0)
        ScaledEmbedding.backward(dtable: g + layout.sourceEmbedding, dout: a.dX, tokens: a.sourceTokens, scale: embeddingScale,
                                 rows: ns, channels: c, pool: pool)
    }

    // MARK: Helpers

    /// Shapes, lengths and token ids of `batch`, each wrong one named in the error.
    func check(_ batch: Seq2SeqBatch) throws {
        let b = batch.batch, s = batch.sourceLength, t = batch.targetLength
        guard b >= 1 else { throw GPTError.shapeMismatch(expected: 1, got: b, what: "batch rows (at least)") }
        guard s >= 1, t >= 1 else { throw GPTError.shapeMismatch(expected: 1, got: min(s, t), what: "sequence length (at least)") }
        if s > config.maxPositions { throw Seq2SeqError.tooLong(what: "source", length: s, maxPositions: config.maxPositions) }
        if t > config.maxPositions { throw Seq2SeqError.tooLong(what: "target", length: t, maxPositions: config.maxPositions) }
        guard let ns = product(b, s), let nt = product(b, t) else { throw MemoryError.overflow(what: "a batch of \(b) rows") }
        for (what, array, n) in [("source", batch.source, ns), ("target input", batch.targetInput, nt),
                                 ("source lengths", batch.sourceLengths, b), ("target lengths", batch.targetLengths, b)]
        where array.count != n {
            throw GPTError.shapeMismatch(expected: n, got: array.count, what: what)
        }
        if !batch.targets.isEmpty && batch.targets.count != nt {
            throw GPTError.shapeMismatch(expected: nt, got: batch.targets.count, what: "targets")
        }
        for (what, lengths, limit) in [("source", batch.sourceLengths, s), ("target", batch.targetLengths, t)] {
            for (row, n) in lengths.enumerated() where n < 0 || Int(n) > limit {
                throw Seq2SeqError.lengthOutOfRange(what: what, row: row, length: Int(n), maximum: limit)
            }
        }
        try batch.source.withUnsafeBufferPointer { try GPT.checkTokens($0, vocabSize: config.vocabSize, ignoring: nil) }
        try batch.targetInput.withUnsafeBufferPointer { try GPT.checkTokens($0, vocabSize: config.vocabSize, ignoring: nil) }
        try batch.targets.withUnsafeBufferPointer { try GPT.checkTokens($0, vocabSize: config.vocabSize, ignoring: -1) }
    }

    /// Buffers for (B, S, T): the current plan if it is at least as large in each; otherwise one
    /// covering both, so batches of varying shape settle on one plan. Refuses a plan that, with the
    /// parameters, would not fit in memory.
    /// Floats held by the activation buffers (0 before the first forward): sized by the largest
    /// B·S, B·T and attention scores of the batches so far, each on its own (Seq2SeqActivations.Capacity).
    public var plannedActivationFloats: Int { activations?.arena.count ?? 0 }

    private func plan(batch: Int, source: Int, target: Int) throws -> Seq2SeqActivations {
        let what = "activations for batch \(batch) × \(source) source × \(target) target tokens, with the parameters"
        guard let shape = Seq2SeqActivations.Capacity(batch: batch, source: source, target: target) else {
            throw MemoryError.overflow(what: what)
        }
        if let a = activations, a.capacity.covers(shape) { return a }
        let capacity = activations.map { $0.capacity.union(shape) } ?? shape
        guard let bytes = Seq2SeqActivations.bytes(config: config, capacity: capacity, encoder: true, threads: pool.threadCount)
        else { throw MemoryError.overflow(what: what) }
        try MemoryBudget.require(Checked.sum(bytes, config.parameterBytes, what: what), for: what)
        activations = nil
        let a = Seq2SeqActivations(config: config, capacity: capacity, encoder: true, threads: pool.threadCount)
        activations = a
        return a
    }

    /// The dropout site of one layer's k-th dropout (encoder layers 0..<Ne, then the decoder's).
    func site(layer: Int) -> UInt64 { 2 + 8 * UInt64(layer) }

    func key(site: UInt64) -> UInt64 { Dropout.key(seed: dropoutSeed, pass: currentPass, site: site) }

    /// The dropout probability while training (0 otherwise).
    var activeDropout: Float { isTraining ? config.dropout : 0 }

    func dropout(_ x: UnsafeMutablePointer<Float>, _ count: Int, site: UInt64) {
        guard activeDropout > 0 else { return }
        Dropout.forward(out: x, inp: x, count: count, probability: activeDropout, key: key(site: site), pool: pool)
    }

    func dropoutBackward(_ x: UnsafeMutablePointer<Float>, _ count: Int, site: UInt64) {
        guard activeDropout > 0 else { return }
        Dropout.backward(dinp: x, dout: x, count: count, probability: activeDropout, key: key(site: site), pool: pool)
    }
}

extension Seq2SeqConfig {
    /// Bytes of activations for one forward + backward pass of `batch` rows of `source` and `target` tokens.
    public func activationBytes(batch: Int, source: Int, target: Int, threads: Int = ThreadPool.coreCount) throws -> Int {
        let what = "activations for batch \(batch) × \(source) source × \(target) target tokens"
        guard batch >= 0, source >= 0, target >= 0,
              let capacity = Seq2SeqActivations.Capacity(batch: batch, source: source, target: target),
              let bytes = Seq2SeqActivations.bytes(config: self, capacity: capacity, encoder: true, threads: threads)
        else { throw MemoryError.overflow(what: what) }
        return bytes
    }

    /// Bytes a training step needs: parameters, gradients and AdamW's two moments, plus the activations.
    public func trainingBytes(batch: Int, source: Int, target: Int, threads: Int = ThreadPool.coreCount) throws -> Int {
        let what = "training batch \(batch) × \(source) + \(target) tokens"
        return try Checked.sum(parameterBytes, Checked.product(parameterCount(), 3 * 4, what: what),
                               activationBytes(batch: batch, source: source, target: target, threads: threads), what: what)
    }
}
