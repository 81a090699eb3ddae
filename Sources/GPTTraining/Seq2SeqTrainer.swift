// Encoder–decoder training (`gpt train --pairs`, `model_type = transformer`): teacher forcing
// with the target shifted right (Seq2SeqBatch: the decoder reads BOS + target and predicts
// target + EOS), label-smoothed cross-entropy (the paper's ε = 0.1, `label_smoothing`; the mean
// over the batch's target tokens, as F.cross_entropy(label_smoothing, ignore_index) computes it),
// AdamW with gradient clipping and the config's schedule (inverse_sqrt in translate-small).
// Batches are TokenBudgetBatches (length-grouped under `max_tokens`, padding counted), so the
// batch order is a pure function of the seed and a (epoch, batch) position, which the checkpoint
// records: a resume continues bit for bit. `grad_accumulation` batches make one step; each
// contributes its own mean, weighted equally.
//
// Special tokens: one id serves as BOS, EOS and padding: the tokenizer's <|endoftext|>, or, for a
// tokenizer without one (char), one id appended after its vocabulary (Seq2SeqTokens).
import Foundation
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer

/// The ids an encoder–decoder's vocabulary adds around a tokenizer's.
public struct Seq2SeqTokens: Equatable, Sendable {
    /// BOS = EOS = padding.
    public var special: Int
    /// The model's vocabulary: the tokenizer's, plus one id when `special` is appended.
    public var vocabularySize: Int

    public init(tokenizer: any Tokenizer) {
        special = tokenizer.endOfTextID ?? tokenizer.vocabularySize
        vocabularySize = max(tokenizer.vocabularySize, special + 1)
    }

    /// The model config of `config`'s fields for this vocabulary.
    public func modelConfig(_ config: TrainingConfig) -> Seq2SeqConfig {
        Seq2SeqConfig(vocabSize: vocabularySize, modelSize: config.model.embeddingSize, headCount: config.model.headCount,
                      feedForwardSize: config.feedForwardSize ?? 4 * config.model.embeddingSize,
                      encoderLayerCount: config.model.layerCount, decoderLayerCount: config.model.layerCount,
                      dropout: config.model.residualDropout, maxPositions: config.model.contextLength,
                      normFirst: config.normFirst, shareEmbeddings: true, finalNorm: config.finalNorm, padTokenId: special, bosTokenId: special,
                      eosTokenId: special)
    }
}

/// What a resumed encoder–decoder run must restore besides weights and moments.
public struct Seq2SeqTrainingState: Codable, Equatable, Sendable {
    public var stepsDone: Int
    public var optimizerStep: Int
    /// The next batch of the length-grouped order.
    public var batchPosition: TokenBudgetBatches.BatchPosition
    public var dropoutSeed: UInt64
    public var passCount: UInt64
    /// FNV-1a of the training pairs' tokens, so a resume on other data is refused.
    public var dataFingerprint: UInt64

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", optimizerStep = "optimizer_step", batchPosition = "batch_position"
        case dropoutSeed = "dropout_seed", passCount = "pass_count", dataFingerprint = "data_fingerprint"
    }
}

public final class Seq2SeqTrainer {
    public let model: Seq2SeqTransformer
    public let optimizer: AdamW
    public let config: TrainingConfig
    public let schedule: LearningRateSchedule
    public let train: [TokenizedPair]
    public let validation: [TokenizedPair]
    private var batches: TokenBudgetBatches
    private let validationBatches: TokenBudgetBatches
    public private(set) var position = TokenBudgetBatches.BatchPosition()
    public internal(set) var stepsDone = 0
    /// Per-row losses of the label-smoothed cross-entropy (grown to the largest batch).
    private var rowLosses: [Float] = []

    /// Pairs longer than the model's positions (n_positions) on either side, EOS counted, are left
    /// out (`skipped` counts them); `max_tokens` must hold two such lengths.
    public init(model: Seq2SeqTransformer, train: [TokenizedPair], validation: [TokenizedPair], config: TrainingConfig) throws {
        guard !validation.isEmpty else { throw BatchingError.noPairs }
        self.model = model; self.config = config; self.train = train; self.validation = validation
        let options = TokenBudgetBatches.Options(maxTokens: config.maxTokens, maxLength: model.config.maxPositions, oversize: .skip,
                                                 extraTargetTokens: 1)
        batches = try TokenBudgetBatches(pairs: train, options: options, seed: config.seed)
        validationBatches = try TokenBudgetBatches(pairs: validation, options: options, seed: config.seed)
        optimizer = AdamW(count: model.layout.count, hyper: config.optimizer)
        schedule = config.schedule  // inverse_sqrt reads n_embd, which is d_model
        model.dropoutSeed = config.seed
    }

    var special: Int32 { Int32(model.config.bosTokenId) }

    func batch(_ plan: TokenBudgetBatches.Batch, from source: TokenBudgetBatches, pairs: [TokenizedPair]) -> Seq2SeqBatch {
        Seq2SeqBatch(pairs: source.tokens(of: plan, pairs: pairs), pad: Int32(model.config.padTokenId),
                     bos: Int32(model.config.bosTokenId), eos: Int32(model.config.eosTokenId))
    }

    /// Takes step `stepsDone`: `grad_accumulation` batches, clipping, AdamW. Returns the mean
    /// label-smoothed loss, the rate, the tokens (source + target positions, padding included) and the time.
    public func step() throws -> (loss: Float, learningRate: Float, tokens: Int, targets: Int, milliseconds: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let lr = schedule.rate(at: stepsDone)
        let accumulation = config.gradAccumulation
        model.isTraining = true
        defer { model.isTraining = false }
        model.zeroGradients()
        var loss: Float = 0, tokens = 0, targets = 0
        for _ in 0..<accumulation {
            let plan = batches.next(&position)
            let b = batch(plan, from: batches, pairs: train)
            try model.forward(b)
            let rows = b.batch * b.targetLength, v = model.config.vocabSize
            if rowLosses.count < rows { rowLosses = [Float](repeating: 0, count: rows) }
            let logits = model.logits
            let count = b.targets.withUnsafeBufferPointer { t in
                rowLosses.withUnsafeMutableBufferPointer { losses in
                    LabelSmoothedCrossEntropy.forward(losses: losses.baseAddress!, logits: logits.baseAddress!, targets: t.baseAddress!,
                                                      rows: rows, vocab: v, smoothing: config.labelSmoothing, ignoreIndex: -1,
                                                      pool: model.pool)
                }
            }
            let batchLoss = rowLosses[0..<rows].reduce(0, +) / Float(max(count, 1))
            guard batchLoss.isFinite else { throw TrainingError.nonFiniteLoss(step: stepsDone) }
            b.targets.withUnsafeBufferPointer { t in
                LabelSmoothedCrossEntropy.backward(dlogits: logits.baseAddress!, logits: logits.baseAddress!, targets: t.baseAddress!,
                                                   rows: rows, vocab: v, smoothing: config.labelSmoothing, ignoreIndex: -1,
                                                   dloss: 1 / Float(max(count, 1) * accumulation), pool: model.pool)
            }
            model.backwardFromLogitGradient()
            loss += batchLoss / Float(accumulation)
            tokens += plan.paddedTokens
            targets += count
        }
        model.step(optimizer, learningRate: lr, maxGradientNorm: config.gradClip > 0 ? config.gradClip : nil)
        stepsDone += 1
        return (loss, lr, tokens, targets, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }

    /// The micro-batches of the next `steps` steps, in training order, without taking them.
    public func upcomingBatches(steps: Int) -> [[Seq2SeqBatch]] {
        var plans = batches, at = position
        return (0..<max(steps, 0)).map { _ in
            (0..<config.gradAccumulation).map { _ in batch(plans.next(&at), from: plans, pairs: train) }
        }
    }

    /// Whether an evaluation follows step `step` (0-based): every `eval_every` steps, and the last.
    public func evaluationDue(after step: Int) -> Bool {
        config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps - 1)
    }

    /// The plain cross-entropy (no smoothing) per target token over the first `eval_batches`
    /// batches of `pairs` (all of them by default), in the fixed order of epoch 0, without dropout.
    public func validationLoss(limit: Int? = nil) throws -> (loss: Double, tokens: Int) {
        try Self.loss(model, pairs: validation, batches: validationBatches, limit: limit ?? config.evalBatches)
    }

    /// Token-weighted mean cross-entropy of `model` over the first `limit` batches of `batches`' epoch 0.
    public static func loss(_ model: Seq2SeqTransformer, pairs: [TokenizedPair], batches: TokenBudgetBatches,
                            limit: Int) throws -> (loss: Double, tokens: Int) {
        var total = 0.0, tokens = 0
        for plan in batches.batches(epoch: 0).prefix(limit) {
            let b = Seq2SeqBatch(pairs: batches.tokens(of: plan, pairs: pairs), pad: Int32(model.config.padTokenId),
                                 bos: Int32(model.config.bosTokenId), eos: Int32(model.config.eosTokenId))
            guard let mean = try model.forward(b) else { continue }
            total += Double(mean) * Double(b.targetTokenCount)
            tokens += b.targetTokenCount
        }
        return (tokens > 0 ? total / Double(tokens) : .nan, tokens)
    }

    /// The state a checkpoint records.
    public func state() -> Seq2SeqTrainingState {
        Seq2SeqTrainingState(stepsDone: stepsDone, optimizerStep: optimizer.step, batchPosition: position,
                             dropoutSeed: model.dropoutSeed, passCount: model.passCount, dataFingerprint: dataFingerprint)
    }

    func restore(_ state: Seq2SeqTrainingState) {
        stepsDone = state.stepsDone
        optimizer.step = state.optimizerStep
        position = state.batchPosition
        model.dropoutSeed = state.dropoutSeed
        model.passCount = state.passCount
    }

    /// FNV-1a over the training pairs' tokens (each side's length first, so the split between them counts).
    public var dataFingerprint: UInt64 {
        var hash = FNV1a()
        for pair in train {
            hash.mix(UInt64(pair.source.count)); for t in pair.source { hash.mix(UInt64(UInt32(bitPattern: t))) }
            hash.mix(UInt64(pair.target.count)); for t in pair.target { hash.mix(UInt64(UInt32(bitPattern: t))) }
        }
        return hash.value
    }

    /// Training and validation pairs left out for being longer than n_positions.
    public var skipped: (train: Int, validation: Int) { (batches.skipped.count, validationBatches.skipped.count) }

    /// FLOPs per trained position (source or target, padding counted) for MFU: 6 × the weights a
    /// position multiplies (forward and backward), over a batch of as many source as target positions.
    /// A source position passes the encoder (4C² + 2CF a layer) and is projected into every decoder
    /// layer's cross-attention keys and values (2C²); a target position passes the decoder (6C² + 2CF a
    /// layer) and the output projection (VC). Attention's own products (score and mix) are left out.
    public var flopsPerToken: Double {
        let m = model.config, c = Double(m.modelSize), f = Double(m.feedForwardSize)
        let source = Double(m.encoderLayerCount) * (4 * c * c + 2 * c * f) + Double(m.decoderLayerCount) * 2 * c * c
        let target = Double(m.decoderLayerCount) * (6 * c * c + 2 * c * f) + Double(m.vocabSize) * c
        return 6 * (source + target) / 2
    }
}
