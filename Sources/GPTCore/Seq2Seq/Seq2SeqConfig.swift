// The shape of an encoder–decoder Transformer ("Attention Is All You Need"; torch.nn.Transformer).
// Field names on disk follow nn.Transformer's arguments (d_model, dim_feedforward,
// num_encoder_layers …) with `model_type: "transformer"`, so a config.json says which
// architecture it is. `validate` range-checks every size before anything is multiplied or
// allocated; MemoryBudget then checks the bytes.
import GPTKernels

public struct Seq2SeqConfig: Equatable, Sendable {
    /// The `model_type` written to config.json.
    public static let modelType = "transformer"

    public var vocabSize: Int
    public var modelSize: Int
    public var headCount: Int
    public var feedForwardSize: Int
    public var encoderLayerCount: Int
    public var decoderLayerCount: Int
    /// nn.Transformer's one dropout probability: embeddings, attention weights, each sub-layer's
    /// output and the feed-forward hidden layer.
    public var dropout: Float
    /// Rows of the sinusoidal table: the longest source or target.
    public var maxPositions: Int
    /// Pre-LN (LayerNorm before each sub-layer) instead of the paper's post-LN.
    public var normFirst: Bool
    /// One table for source embedding, target embedding and output projection (the paper's
    /// three-way tying, joint vocabulary). Otherwise the output projection is tied to the target table.
    public var shareEmbeddings: Bool
    /// A LayerNorm after each stack (nn.Transformer's `encoder.norm` and `decoder.norm`). Post-LN
    /// stacks already end in a LayerNorm, so it is redundant there; Marian (and so the Hugging
    /// Face export) has none.
    public var finalNorm: Bool
    public var padTokenId: Int
    public var bosTokenId: Int
    public var eosTokenId: Int
    public var layerNormEpsilon: Float

    public init(vocabSize: Int, modelSize: Int = 512, headCount: Int = 8, feedForwardSize: Int = 2048,
                encoderLayerCount: Int = 6, decoderLayerCount: Int = 6, dropout: Float = 0.1, maxPositions: Int = 256,
                normFirst: Bool = false, shareEmbeddings: Bool = true, finalNorm: Bool = true, padTokenId: Int = 0,
                bosTokenId: Int = 1, eosTokenId: Int = 2, layerNormEpsilon: Float = 1e-5) {
        self.vocabSize = vocabSize; self.modelSize = modelSize; self.headCount = headCount
        self.feedForwardSize = feedForwardSize; self.encoderLayerCount = encoderLayerCount
        self.decoderLayerCount = decoderLayerCount; self.dropout = dropout; self.maxPositions = maxPositions
        self.normFirst = normFirst; self.shareEmbeddings = shareEmbeddings; self.finalNorm = finalNorm
        self.padTokenId = padTokenId
        self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId; self.layerNormEpsilon = layerNormEpsilon
    }

    public var headSize: Int { modelSize / headCount }

    /// The largest value `validate` accepts for each size field (n_head: at most d_model).
    public static let limits = (vocabSize: 16_777_216, maxPositions: 1_048_576, modelSize: 65_536,
                                feedForwardSize: 1_048_576, layerCount: 1_024)

    /// Checks every field; the error names the field, its value and what is allowed.
    public func validate() throws {
        func fail(_ field: String, _ value: Any, _ rule: String) -> GPTConfigError {
            GPTConfigError(field: field, value: "\(value)", rule: rule)
        }
        func bound(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            if !range.contains(value) { throw fail(field, value, "must be in \(range.lowerBound)...\(range.upperBound)") }
        }
        try bound("vocab_size", vocabSize, 1...Self.limits.vocabSize)
        try bound("d_model", modelSize, 1...Self.limits.modelSize)
        try bound("n_head", headCount, 1...modelSize)
        if modelSize % headCount != 0 { throw fail("d_model", modelSize, "must be divisible by n_head (\(headCount))") }
        try bound("dim_feedforward", feedForwardSize, 1...Self.limits.feedForwardSize)
        try bound("num_encoder_layers", encoderLayerCount, 1...Self.limits.layerCount)
        try bound("num_decoder_layers", decoderLayerCount, 1...Self.limits.layerCount)
        try bound("max_position_embeddings", maxPositions, 1...Self.limits.maxPositions)
        for (field, id) in [("pad_token_id", padTokenId), ("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)] {
            try bound(field, id, 0...(vocabSize - 1))
        }
        if !(dropout >= 0 && dropout < 1) { throw fail("dropout", dropout, "must be in [0, 1)") }
        if !(layerNormEpsilon > 0) { throw fail("layer_norm_eps", layerNormEpsilon, "must be positive") }
    }

    /// Floats in the parameter layout (Seq2SeqLayout's count), with checked arithmetic from the fields alone.
    public func parameterCount() throws -> Int {
        let what = "the parameters of this config"
        let c = modelSize, f = feedForwardSize
        // Attention: in_proj [3C, C] + [3C], out_proj [C, C] + [C]; feed-forward: [F, C] + [F], [C, F] + [C].
        let attention = try Checked.sum(Checked.product(4, c, c, what: what), Checked.product(4, c, what: what), what: what)
        let feedForward = try Checked.sum(Checked.product(2, c, f, what: what), f, c, what: what)
        let encoderLayer = try Checked.sum(attention, feedForward, Checked.product(4, c, what: what), what: what)
        let decoderLayer = try Checked.sum(attention, encoderLayer, Checked.product(2, c, what: what), what: what)
        let table = try Checked.product(vocabSize, c, what: what)
        return try Checked.sum(shareEmbeddings ? table : Checked.product(2, table, what: what),
                               Checked.product(encoderLayerCount, encoderLayer, what: what),
                               Checked.product(decoderLayerCount, decoderLayer, what: what),
                               finalNorm ? Checked.product(4, c, what: what) : 0, what: what)
    }

    /// Bytes of the parameters plus the sinusoidal table: what `Seq2SeqTransformer.init` allocates.
    public var parameterBytes: Int {
        get throws {
            let what = "the parameters of this config"
            return try Checked.product(Checked.sum(parameterCount(), Checked.product(maxPositions, modelSize, what: what),
                                                   what: what), 4, what: what)
        }
    }
}

extension Seq2SeqConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", modelSize = "d_model", headCount = "n_head"
        case feedForwardSize = "dim_feedforward", encoderLayerCount = "num_encoder_layers"
        case decoderLayerCount = "num_decoder_layers", dropout, maxPositions = "max_position_embeddings"
        case normFirst = "norm_first", shareEmbeddings = "share_embeddings", finalNorm = "final_norm"
        case padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", layerNormEpsilon = "layer_norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let type = try? c.decodeIfPresent(String.self, forKey: .modelType), type != Self.modelType {
            throw GPTConfigError(field: "model_type", value: type, rule: "must be \(Self.modelType) for an encoder–decoder model")
        }
        func integer(_ key: CodingKeys) throws -> Int? {
            do { return try c.decodeIfPresent(Int.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: GPTConfig.rawValue(of: error), rule: "must be an integer")
            }
        }
        func number(_ key: CodingKeys) throws -> Float? {
            do { return try c.decodeIfPresent(Double.self, forKey: key).map(Float.init) } catch {
                throw GPTConfigError(field: key.stringValue, value: GPTConfig.rawValue(of: error), rule: "must be a number")
            }
        }
        func boolean(_ key: CodingKeys) throws -> Bool? {
            do { return try c.decodeIfPresent(Bool.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: GPTConfig.rawValue(of: error), rule: "must be true or false")
            }
        }
        guard let vocab = try integer(.vocabSize) else {
            throw GPTConfigError(field: "vocab_size", value: "absent", rule: "is required")
        }
        let d = Seq2SeqConfig(vocabSize: vocab)
        self.init(vocabSize: vocab, modelSize: try integer(.modelSize) ?? d.modelSize,
                  headCount: try integer(.headCount) ?? d.headCount,
                  feedForwardSize: try integer(.feedForwardSize) ?? d.feedForwardSize,
                  encoderLayerCount: try integer(.encoderLayerCount) ?? d.encoderLayerCount,
                  decoderLayerCount: try integer(.decoderLayerCount) ?? d.decoderLayerCount,
                  dropout: try number(.dropout) ?? d.dropout, maxPositions: try integer(.maxPositions) ?? d.maxPositions,
                  normFirst: try boolean(.normFirst) ?? d.normFirst,
                  shareEmbeddings: try boolean(.shareEmbeddings) ?? d.shareEmbeddings,
                  finalNorm: try boolean(.finalNorm) ?? d.finalNorm,
                  padTokenId: try integer(.padTokenId) ?? d.padTokenId, bosTokenId: try integer(.bosTokenId) ?? d.bosTokenId,
                  eosTokenId: try integer(.eosTokenId) ?? d.eosTokenId,
                  layerNormEpsilon: try number(.layerNormEpsilon) ?? d.layerNormEpsilon)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(modelSize, forKey: .modelSize)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(feedForwardSize, forKey: .feedForwardSize)
        try c.encode(encoderLayerCount, forKey: .encoderLayerCount)
        try c.encode(decoderLayerCount, forKey: .decoderLayerCount)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(normFirst, forKey: .normFirst)
        try c.encode(shareEmbeddings, forKey: .shareEmbeddings)
        try c.encode(finalNorm, forKey: .finalNorm)
        try c.encode(padTokenId, forKey: .padTokenId)
        try c.encode(bosTokenId, forKey: .bosTokenId)
        try c.encode(eosTokenId, forKey: .eosTokenId)
        try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
    }
}
