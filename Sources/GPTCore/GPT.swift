// The GPT-2 model: token + position embedding, pre-LayerNorm transformer blocks
// (causal self-attention, then a 4x MLP, each inside a residual connection), a final
// LayerNorm, and an LM head tied to the token embedding. Forward and backward are
// written out op by op (as llm.c does), each op a kernel of GPTKernels; the numbers
// match Hugging Face's GPT2LMHeadModel (see the reference tests).
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GPTKernels

public enum GPTError: Error, CustomStringConvertible, Equatable {
    case sequenceTooLong(length: Int, contextLength: Int)
    case tokenOutOfRange(position: Int, token: Int, vocabSize: Int)
    case shapeMismatch(expected: Int, got: Int, what: String)
    case backwardWithoutTargets
    case targetsWithoutLanguageModelHead
    case inferenceOnlyWeights(format: String)

    public var description: String {
        switch self {
        case let .sequenceTooLong(length, context):
            return "sequence of \(length) tokens exceeds the model's context length \(context)"
        case let .tokenOutOfRange(position, token, vocab):
            return "token \(token) at position \(position) is outside the vocabulary (0..<\(vocab))"
        case let .shapeMismatch(expected, got, what):
            return "\(what): expected \(expected) values, got \(got)"
        case .backwardWithoutTargets:
            return "backward() needs a forward pass with targets or a gradient for the hidden states"
        case .targetsWithoutLanguageModelHead:
            return "a language-model loss needs the LM head: pass languageModelHead: true with targets"
        case let .inferenceOnlyWeights(format):
            return "the model holds \(format) weights for inference: train or convert from fp32 weights"
        }
    }
}

public final class GPT {
    public let config: GPTConfig
    public let layout: ParameterLayout
    /// All parameters, in `layout` order.
    public let parameters: UnsafeMutablePointer<Float>
    /// Gradients in the same layout; allocated by the first `backward`/`zeroGradients`.
    public private(set) var gradients: UnsafeMutablePointer<Float>?
    /// False once `placeGradients(in:)` gave the model a buffer it does not own.
    private var ownsGradients = true
    public let pool: ThreadPool
    /// The matrices in a lower precision, when the model is set up for inference that way (`useWeights`).
    public internal(set) var inferenceWeights: InferenceWeights?

    /// Dropout is applied only while training.
    public var isTraining = false
    /// Seeds dropout; with `passCount`, fixes every dropout mask.
    public var dropoutSeed: UInt64 = 0
    /// Training forward passes run so far (each draws fresh dropout masks).
    public var passCount: UInt64 = 0
    /// Called during `backward` with each range of `gradients` (offsets in `layout`) once this pass
    /// has finished it: the last block with `ln_f` and any head, then each earlier block, then the
    /// embeddings. Together the ranges cover the layout once. Data-parallel training starts
    /// reducing a range here while backward computes earlier layers (DDP's buckets).
    public var gradientsFinished: ((Range<Int>) -> Void)?

    private var activations: Activations?
    private var currentBatch = 0, currentSeq = 0
    private(set) var positionTable: UnsafeMutablePointer<Float>?
    private var validTargets = 0
    private var computedLogits = false
    private var currentPass: UInt64 = 0

    /// A model with GPT-2's initialisation: N(0, 0.02) weights, residual projections
    /// N(0, 0.02/√(2·n_layer)), zero biases, unit LayerNorm gains.
    public convenience init(config: GPTConfig, classCount: Int? = nil, seed: UInt64, pool: ThreadPool) throws {
        try self.init(config: config, classCount: classCount, pool: pool)
        var rng = SplitMix64(seed: seed)
        let residualStd = 0.02 / Float(2 * config.layerCount).squareRoot()
        for tensor in layout.tensors {
            let p = parameters + tensor.offset
            if tensor.shape.count >= 2 {
                let std = ParameterLayout.isResidualProjection(tensor.name) ? residualStd : 0.02
                rng.fillNormal(p, count: tensor.count, std: std)
            } else {
                p.update(repeating: tensor.name.hasSuffix(".weight") ? 1 : 0, count: tensor.count)
            }
        }
    }

    /// A model with all parameters zero, to be filled by a loader.
    /// Refuses a config whose parameters would not fit in this machine's memory (MemoryBudget).
    /// With `classCount`, the layout also holds a classification head (`ClassificationHead` views it).
    public init(config: GPTConfig, classCount: Int? = nil, pool: ThreadPool) throws {
        try config.validate()
        if let classCount, !(2...ClassificationHead.maximumClassCount).contains(classCount) {
            throw GPTError.shapeMismatch(expected: 2, got: classCount, what: "classes (2...\(ClassificationHead.maximumClassCount))")
        }
        try MemoryBudget.require(config.parameterBytes, for: "a model of \(try config.parameterCount()) parameters")
        self.config = config
        self.layout = ParameterLayout(config, classCount: classCount)
        self.pool = pool
        parameters = Self.allocateZeroed(layout.count)
        if config.positions == .sinusoidal {
            let table = Self.allocate(config.contextLength * config.embeddingSize)
            Embedding.sinusoidalTable(table, positions: config.contextLength, channels: config.embeddingSize)
            positionTable = table
        }
    }

    deinit {
        munmap(parameters, Self.mappedBytes(layout.count))
        if ownsGradients { gradients?.deallocate() }
        positionTable?.deallocate()
    }

    /// Zeroed parameters from an anonymous mapping: a page costs memory only once written, so
    /// matrices loaded straight into a lower precision (`InferenceWeights`) never occupy their fp32 pages.
    static func allocateZeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard let base = mmap(nil, mappedBytes(count), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else {
            fatalError("mmap of \(mappedBytes(count)) bytes failed after MemoryBudget allowed them (errno \(errno))")
        }
        return base.bindMemory(to: Float.self, capacity: max(1, count))
    }

    static func mappedBytes(_ count: Int) -> Int { max(1, count) * 4 }

    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, count))
    }

    /// A tensor's values.
    public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(start: parameters + $0.offset, count: $0.count) }
    }

    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        guard let gradients, let t = layout[name] else { return nil }
        return UnsafeMutableBufferPointer(start: gradients + t.offset, count: t.count)
    }

    /// Logits of the last forward pass: [B, T, V]. Invalid after `backward` (it reuses the buffer),
    /// and empty when that pass skipped the LM head.
    public var logits: UnsafeBufferPointer<Float> {
        guard let a = activations, computedLogits else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.logits, count: currentBatch * currentSeq * config.vocabSize)
    }

    /// The final LayerNorm's output of the last forward pass, [B, T, C]: what the LM head (and a
    /// classification head) reads.
    public var hiddenStates: UnsafeBufferPointer<Float> {
        guard let a = activations else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.lnf, count: currentBatch * currentSeq * config.embeddingSize)
    }

    /// Makes `buffer` (`layout.count` floats, owned by the caller, valid while the model trains) the
    /// gradient buffer: data-parallel ranks on one machine back-propagate straight into memory that the
    /// other ranks read.
    public func placeGradients(in buffer: UnsafeMutablePointer<Float>) {
        if ownsGradients { gradients?.deallocate() }
        gradients = buffer
        ownsGradients = false
    }

    public func zeroGradients() {
        if gradients == nil { gradients = Self.allocate(layout.count) }
        gradients!.update(repeating: 0, count: layout.count)
    }

    // MARK: Forward

    /// Runs the model on `tokens` ([B, T], row-major). With `targets` ([B, T]; −1 = ignore),
    /// returns the mean cross-entropy over the non-ignored positions (0 if every one is ignored).
    /// Without `languageModelHead` the pass stops at `hiddenStates` (a classifier needs no logits).
    @discardableResult
    public func forward(tokens: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>?,
                        batch: Int, seq: Int, languageModelHead: Bool = true) throws -> Float? {
        let n = batch * seq, c = config.embeddingSize, v = config.vocabSize
        guard seq <= config.contextLength else { throw GPTError.sequenceTooLong(length: seq, contextLength: config.contextLength) }
        if targets != nil && !languageModelHead { throw GPTError.targetsWithoutLanguageModelHead }
        guard tokens.count == n else { throw GPTError.shapeMismatch(expected: n, got: tokens.count, what: "tokens") }
        if let targets, targets.count != n { throw GPTError.shapeMismatch(expected: n, got: targets.count, what: "targets") }
        try Self.checkTokens(tokens, vocabSize: v, ignoring: nil)
        if let targets { try Self.checkTokens(targets, vocabSize: v, ignoring: -1) }
        let a = try plan(batch: batch, seq: seq, logits: languageModelHead)
        currentBatch = batch; currentSeq = seq
        a.tokens.update(from: tokens.baseAddress!, count: n)
        // passCount comes from a resumed run's state.json: it wraps (a new mask per pass is all it is for)
        // rather than trapping on a hostile or worn-out 2⁶⁴ − 1.
        if isTraining { passCount &+= 1 }
        currentPass = passCount

        let p = parameters
        let residual = trunk(tokens: a.tokens, encoded: a.encoded, block: { a.blocks[$0] }, batch: batch, seq: seq,
                             scratch: a.attentionScratch, cache: nil)
        LayerNorm.forward(out: a.lnf, mean: a.lnfMean, rstd: a.lnfRstd, inp: residual, weight: p + layout.lnfWeight,
                          bias: layout.lnfBias.map { UnsafePointer(p + $0) }, rows: n, channels: c,
                          eps: config.layerNormEpsilon, pool: pool)
        computedLogits = languageModelHead
        validTargets = 0
        guard languageModelHead else { return nil }
        // Tied LM head: logits[N, V] = lnf[N, C] · wte[V, C]ᵀ
        self.languageModelHead(logits: a.logits, hidden: a.lnf, rows: n)

        guard let targets else { return nil }
        a.targets.update(from: targets.baseAddress!, count: n)
        CrossEntropy.forward(losses: a.losses, logits: a.logits, targets: a.targets, rows: n, vocab: v, pool: pool)
        validTargets = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total: Double = 0
        for i in 0..<n { total += Double(a.losses[i]) }
        return validTargets > 0 ? Float(total / Double(validTargets)) : 0
    }

    /// Convenience for arrays.
    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32]?, batch: Int, seq: Int, languageModelHead: Bool = true) throws -> Float? {
        try tokens.withUnsafeBufferPointer { tp in
            if let targets {
                return try targets.withUnsafeBufferPointer {
                    try forward(tokens: tp, targets: $0, batch: batch, seq: seq, languageModelHead: languageModelHead)
                }
            }
            return try forward(tokens: tp, targets: nil, batch: batch, seq: seq, languageModelHead: languageModelHead)
        }
    }

    /// Every id in `tokens` must be in 0..<vocabSize (or equal `ignoring`, a target to skip).
    static func checkTokens(_ tokens: UnsafeBufferPointer<Int32>, vocabSize: Int, ignoring: Int32?) throws {
        for (i, token) in tokens.enumerated() where token < 0 || Int(token) >= vocabSize {
            if let ignoring, token == ignoring { continue }
            throw GPTError.tokenOutOfRange(position: i, token: Int(token), vocabSize: vocabSize)
        }
    }

    /// Per-layer keys and values of earlier positions, for the cached path (see InferenceSession).
    /// The rows of a cached pass are segments, each a run of new positions of one slot at its own length.
    struct KVCache {
        let keys: [UnsafeMutablePointer<Float>]    // per layer [slots, NH, hs, capacity], transposed
        let values: [UnsafeMutablePointer<Float>]  // per layer [slots, NH, capacity, hs]
        let capacity: Int
        /// Which slot each run of rows extends, and how many positions it already caches.
        let segments: [CachedAttention.Segment]
    }

    /// Embeds `tokens` ([B, T]) at positions 0..<T (without a cache; with one, each segment's rows at
    /// its slot's next positions) into `encoded` ([B, T, C]) and runs every block, layer l in
    /// `block(l)`'s buffers; returns the last block's output [B, T, C]. Training and cached inference
    /// both run through here (a cached pass has batch 1 and seq = all segments' rows).
    func trunk(tokens: UnsafePointer<Int32>, encoded: UnsafeMutablePointer<Float>, block: (Int) -> Activations.Block,
               batch: Int, seq: Int, scratch: UnsafeMutablePointer<Float>, cache: KVCache?) -> UnsafeMutablePointer<Float> {
        let c = config.embeddingSize, p = parameters
        let wpe = UnsafePointer(layout.wpe.map { p + $0 } ?? positionTable!)
        if let cache {
            for s in cache.segments {
                embed(out: encoded + s.row * c, tokens: tokens + s.row, wpe: wpe + s.past * c, batch: 1, seq: s.count)
            }
        } else {
            embed(out: encoded, tokens: tokens, wpe: wpe, batch: batch, seq: seq)
            dropout(encoded, batch * seq * c, config.embeddingDropout, site: 0)
        }
        var residual = encoded
        for (l, w) in layout.blocks.enumerated() {
            let s = block(l)
            blockForward(s, w, input: residual, layer: l, batch: batch, seq: seq, scratch: scratch, cache: cache)
            residual = s.residual3
        }
        return residual
    }

    /// One transformer block: residual2 = input + attn(ln_1(input)), residual3 = residual2 + mlp(ln_2(residual2)).
    /// Without a cache, attention covers the T positions and saves its weights for backward (dropout applies
    /// while training); with one, the new positions' keys and values join the cache and attend to it.
    /// s: this layer's buffers ([B, T, ·]), input: [B, T, C] (may be s.residual2 on the cached path).
    private func blockForward(_ s: Activations.Block, _ w: ParameterLayout.Block, input: UnsafePointer<Float>,
                              layer: Int, batch: Int, seq: Int, scratch: UnsafeMutablePointer<Float>, cache: KVCache?) {
        let n = batch * seq, c = config.embeddingSize, p = parameters
        let training = isTraining && cache == nil
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { UnsafePointer(p + $0) } }
        LayerNorm.forward(out: s.ln1, mean: s.ln1Mean, rstd: s.ln1Rstd, inp: input, weight: p + w.ln1Weight,
                          bias: bias(w.ln1Bias), rows: n, channels: c, eps: config.layerNormEpsilon, pool: pool)
        linearForward(out: s.qkv, inp: s.ln1, weight: w.attnWeight, bias: bias(w.attnBias),
                       rows: n, inChannels: c, outChannels: 3 * c)
        if let cache {
            CachedAttention.forward(out: s.atty, qkv: s.qkv, keys: cache.keys[layer], values: cache.values[layer],
                                    scratch: scratch, segments: cache.segments,
                                    capacity: cache.capacity, channels: c, heads: config.headCount, pool: pool)
        } else {
            Attention.forward(out: s.atty, att: s.att!, qkv: s.qkv, scratch: scratch, batch: batch, seq: seq, channels: c,
                              heads: config.headCount, dropout: training ? config.attentionDropout : 0,
                              key: key(site: 1 + 3 * UInt64(layer)), pool: pool)
        }
        linearForward(out: s.attProj, inp: s.atty, weight: w.attnProjWeight, bias: bias(w.attnProjBias),
                       rows: n, inChannels: c, outChannels: c)
        if training { dropout(s.attProj, n * c, config.residualDropout, site: 2 + 3 * UInt64(layer)) }
        Residual.forward(out: s.residual2, input, s.attProj, count: n * c, pool: pool)
        LayerNorm.forward(out: s.ln2, mean: s.ln2Mean, rstd: s.ln2Rstd, inp: s.residual2, weight: p + w.ln2Weight,
                          bias: bias(w.ln2Bias), rows: n, channels: c, eps: config.layerNormEpsilon, pool: pool)
        linearForward(out: s.fc, inp: s.ln2, weight: w.fcWeight, bias: bias(w.fcBias),
                       rows: n, inChannels: c, outChannels: 4 * c)
        config.activation.forward(out: s.fcAct, inp: s.fc, count: n * 4 * c, pool: pool)
        linearForward(out: s.fcProj, inp: s.fcAct, weight: w.fcProjWeight, bias: bias(w.fcProjBias),
                       rows: n, inChannels: 4 * c, outChannels: c)
        if training { dropout(s.fcProj, n * c, config.residualDropout, site: 3 + 3 * UInt64(layer)) }
        Residual.forward(out: s.residual3, s.residual2, s.fcProj, count: n * c, pool: pool)
    }

    // MARK: Backward

    /// Adds the gradient of `lossScale` × the last forward's mean loss, plus the gradient
    /// `hiddenGradient` ([B, T, C]) of another loss with respect to `hiddenStates`, to `gradients`
    /// (call `zeroGradients` first unless accumulating; accumulating n micro-batches, pass 1/n).
    /// With an LM loss, overwrites the logits with their gradient.
    public func backward(lossScale: Float = 1, hiddenGradient: UnsafePointer<Float>? = nil) throws {
        guard let a = activations, validTargets > 0 || hiddenGradient != nil else { throw GPTError.backwardWithoutTargets }
        if let low = inferenceWeights { throw GPTError.inferenceOnlyWeights(format: low.format.rawValue) }
        if gradients == nil { zeroGradients() }
        let batch = currentBatch, seq = currentSeq, n = batch * seq, c = config.embeddingSize, v = config.vocabSize
        let p = parameters, g = gradients!

        if validTargets > 0 {
            CrossEntropy.backward(dlogits: a.logits, logits: a.logits, targets: a.targets, rows: n, vocab: v,
                                  dloss: lossScale / Float(validTargets), pool: pool)
            // dlnf[N, C] = dlogits[N, V] · wte[V, C];  dwte[V, C] += dlogits[N, V]ᵀ · lnf[N, C]
            GEMM.multiply(a.dC, ldc: c, a.logits, lda: v, .normal, p + layout.wte, ldb: c, .normal,
                          m: n, n: c, k: v, accumulate: false, pool: pool)
            GEMM.multiply(g + layout.wte, ldc: c, a.logits, lda: v, .transposed, a.lnf, ldb: c, .normal,
                          m: v, n: c, k: n, accumulate: true, pool: pool)
            if let hiddenGradient { Residual.forward(out: a.dC, a.dC, hiddenGradient, count: n * c, pool: pool) }
        } else {
            a.dC.update(from: hiddenGradient!, count: n * c)
        }
        a.dResidual.update(repeating: 0, count: n * c)
        let lastResidual = layout.blocks.isEmpty ? a.encoded : a.blocks[layout.blocks.count - 1].residual3
        LayerNorm.backward(dinp: a.dResidual, dweight: g + layout.lnfWeight, dbias: layout.lnfBias.map { g + $0 },
                           dout: a.dC, inp: lastResidual, weight: p + layout.lnfWeight,
                           mean: a.lnfMean, rstd: a.lnfRstd, rows: n, channels: c, pool: pool)

        for l in stride(from: layout.blocks.count - 1, through: 0, by: -1) {
            let input = l == 0 ? a.encoded : a.blocks[l - 1].residual3
            blockBackward(a, a.blocks[l], layout.blocks[l], input: input, layer: l, batch: batch, seq: seq)
            let end = l + 1 < layout.blocks.count ? layout.blocks[l + 1].ln1Weight : layout.count
            gradientsFinished?(layout.blocks[l].ln1Weight..<end)
        }
        dropoutBackward(a.dResidual, n * c, config.embeddingDropout, site: 0)
        Embedding.backward(dwte: g + layout.wte, dwpe: layout.wpe.map { g + $0 }, dout: a.dResidual, tokens: a.tokens,
                           batch: batch, seq: seq, channels: c, pool: pool)
        gradientsFinished?(0..<(layout.blocks.first?.ln1Weight ?? layout.count))
    }

    /// On entry a.dResidual holds d(residual3); on exit d(input).
    private func blockBackward(_ a: Activations, _ s: Activations.Block, _ w: ParameterLayout.Block,
                               input: UnsafeMutablePointer<Float>, layer: Int, batch: Int, seq: Int) {
        let n = batch * seq, c = config.embeddingSize, p = parameters, g = gradients!
        func gbias(_ o: Int?) -> UnsafeMutablePointer<Float>? { o.map { g + $0 } }
        // MLP branch: residual3 = residual2 + dropout(c_proj(act(c_fc(ln_2(residual2))))).
        let dFcProj = branchGradient(a, config.residualDropout, site: 3 + 3 * UInt64(layer))
        Linear.backward(dinp: a.d4C, dweight: g + w.fcProjWeight, dbias: gbias(w.fcProjBias), dout: dFcProj,
                        inp: s.fcAct, weight: p + w.fcProjWeight, rows: n, inChannels: 4 * c, outChannels: c,
                        accumulateInput: false, pool: pool)
        config.activation.backward(dinp: a.d4C, dout: a.d4C, inp: s.fc, count: n * 4 * c, pool: pool)
        Linear.backward(dinp: a.dC2, dweight: g + w.fcWeight, dbias: gbias(w.fcBias), dout: a.d4C,
                        inp: s.ln2, weight: p + w.fcWeight, rows: n, inChannels: c, outChannels: 4 * c,
                        accumulateInput: false, pool: pool)
        LayerNorm.backward(dinp: a.dResidual, dweight: g + w.ln2Weight, dbias: gbias(w.ln2Bias), dout: a.dC2,
                           inp: s.residual2, weight: p + w.ln2Weight, mean: s.ln2Mean, rstd: s.ln2Rstd,
                           rows: n, channels: c, pool: pool)
        // Attention branch: residual2 = input + dropout(c_proj(attention(c_attn(ln_1(input))))).
        let dAttProj = branchGradient(a, config.residualDropout, site: 2 + 3 * UInt64(layer))
        Linear.backward(dinp: a.dC2, dweight: g + w.attnProjWeight, dbias: gbias(w.attnProjBias), dout: dAttProj,
                        inp: s.atty, weight: p + w.attnProjWeight, rows: n, inChannels: c, outChannels: c,
                        accumulateInput: false, pool: pool)
        let attnP = isTraining ? config.attentionDropout : 0
        Attention.backward(dqkv: a.d3C, dout: a.dC2, att: s.att!, qkv: s.qkv, scratch: a.attentionScratch,
                           batch: batch, seq: seq, channels: c, heads: config.headCount,
                           dropout: attnP, key: key(site: 1 + 3 * UInt64(layer)), pool: pool)
        Linear.backward(dinp: a.dC2, dweight: g + w.attnWeight, dbias: gbias(w.attnBias), dout: a.d3C,
                        inp: s.ln1, weight: p + w.attnWeight, rows: n, inChannels: c, outChannels: 3 * c,
                        accumulateInput: false, pool: pool)
        LayerNorm.backward(dinp: a.dResidual, dweight: g + w.ln1Weight, dbias: gbias(w.ln1Bias), dout: a.dC2,
                           inp: input, weight: p + w.ln1Weight, mean: s.ln1Mean, rstd: s.ln1Rstd,
                           rows: n, channels: c, pool: pool)
    }

    /// The gradient entering a residual branch: d(residual) itself, or a copy through the branch's dropout mask.
    private func branchGradient(_ a: Activations, _ p: Float, site: UInt64) -> UnsafeMutablePointer<Float> {
        let count = currentBatch * currentSeq * config.embeddingSize
        guard isTraining && p > 0 else { return a.dResidual }
        Dropout.backward(dinp: a.dC, dout: a.dResidual, count: count, probability: p, key: key(site: site), pool: pool)
        return a.dC
    }

    // MARK: Helpers

    /// Buffers for (batch, seq): the current plan if it is at least as large in both (and has
    /// logits if they are needed); otherwise one covering both the old and the new shape, so
    /// that batches of varying length settle on one plan instead of reallocating in turn.
    /// Refuses a plan that, with the parameters, would not fit in memory.
    private func plan(batch: Int, seq: Int, logits: Bool) throws -> Activations {
        if let a = activations, batch <= a.batch, seq <= a.seq, a.hasLogits || !logits { return a }
        let (oldBatch, oldSeq, oldLogits) = (activations?.batch ?? 0, activations?.seq ?? 0, activations?.hasLogits ?? false)
        let (b, t, l) = (max(batch, oldBatch), max(seq, oldSeq), logits || oldLogits)
        let what = "activations for batch \(b) × \(t) tokens, with the parameters"
        try MemoryBudget.require(Checked.sum(config.activationBytes(batch: b, seq: t, threads: pool.threadCount, logits: l),
                                             config.parameterBytes, what: what), for: what)
        activations = nil  // release the old plan before allocating the new one
        let a = Activations(config: config, batch: b, seq: t, threads: pool.threadCount, logits: l)
        activations = a
        return a
    }

    private func key(site: UInt64) -> UInt64 {
        Dropout.key(seed: dropoutSeed, pass: currentPass, site: site)
    }

    private func dropout(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ p: Float, site: UInt64) {
        guard isTraining && p > 0 else { return }
        Dropout.forward(out: x, inp: x, count: count, probability: p, key: key(site: site), pool: pool)
    }

    private func dropoutBackward(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ p: Float, site: UInt64) {
        guard isTraining && p > 0 else { return }
        Dropout.backward(dinp: x, dout: x, count: count, probability: p, key: key(site: site), pool: pool)
    }

    /// Whether every parameter is finite (no NaN or infinity).
    public var parametersAreFinite: Bool {
        Reduction.sumOfSquares(parameters, count: layout.count, pool: pool).isFinite
    }

    /// The global L2 norm of the gradients.
    public func gradientNorm() -> Double {
        guard let g = gradients else { return 0 }
        return Reduction.sumOfSquares(g, count: layout.count, pool: pool).squareRoot()
    }
}

extension GPT {
    /// Parameters excluding the position table (the count GPT-2's papers quote, with wte counted once).
    public var parameterCount: Int { layout.count - (layout["wpe.weight"]?.count ?? 0) }

    /// Training FLOPs per token for sequences of `seq` (PaLM appendix B, as nanoGPT estimates MFU):
    /// 6 per parameter per token for forward + backward, plus attention's 12·L·C·T.
    public func trainingFlopsPerToken(seq: Int) -> Double {
        6 * Double(parameterCount) + 12 * Double(config.layerCount * config.embeddingSize * seq)
    }
}
