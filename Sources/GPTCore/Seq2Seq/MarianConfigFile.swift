// config.json of a Hugging Face MarianMTModel (transformers/models/marian/configuration_marian.py,
// model_type "marian"), and the one correspondence between it and Seq2SeqConfig, both ways.
//
// A Marian model is our post-LN encoder–decoder when: activation_function is "relu"; embeddings are
// scaled by √d_model (scale_embedding); positions are the fixed sinusoidal table (Marian's only
// kind; older BART-style configs say so with static_position_embeddings); there is no LayerNorm
// before the sub-layers (normalize_before), on the embeddings (normalize_embedding) or after the
// stacks (add_final_layer_norm, and our final_norm must be false); one dropout for embeddings,
// attention weights and the feed-forward layer; encoder and decoder with equal heads, widths and
// vocabularies; no layer drop; the output projection tied to the decoder's table. Anything else is
// refused with a one-line error naming the key, never approximated. Absent keys take MarianConfig's
// own defaults (so an absent activation_function is gelu, refused), as transformers would read them.
import Foundation

public struct MarianConfigFile: Equatable, Sendable {
    /// The `model_type` of a Marian config.json.
    public static let modelType = "marian"

    public var vocabSize = 58_101, decoderVocabSize: Int?
    public var modelSize = 1024, encoderLayers = 12, decoderLayers = 12
    public var encoderHeads = 16, decoderHeads = 16, encoderFeedForward = 4096, decoderFeedForward = 4096
    public var maxPositions = 1024
    public var dropout = 0.1, attentionDropout = 0.0, activationDropout = 0.0
    public var encoderLayerDrop = 0.0, decoderLayerDrop = 0.0
    public var activation = "gelu", scaleEmbedding = false
    /// nil: null in the file.
    public var padTokenId: Int? = 58_100, eosTokenId: Int? = 0, decoderStartTokenId: Int? = 58_100
    public var bosTokenId: Int?, forcedEosTokenId: Int?
    public var shareEmbeddings = true, tieWordEmbeddings = true
    /// Keys of the BART-era MarianConfig (transformers 4.x and the opus-mt files): read to refuse what they change.
    public var normalizeBefore: Bool?, normalizeEmbedding: Bool?, addFinalLayerNorm: Bool?
    public var staticPositionEmbeddings: Bool?, addBiasLogits: Bool?

    public init() {}

    /// Marian's LayerNorm epsilon: nn.LayerNorm's default, not configurable there.
    public static let layerNormEpsilon: Float = 1e-5

    /// The Marian config of `config`; refuses, saying why and what to train instead, a model Marian cannot hold.
    public init(_ config: Seq2SeqConfig) throws {
        func refuse(_ field: String, _ value: Any, _ why: String) -> MarianExportError {
            MarianExportError(field: field, value: "\(value)", reason: why)
        }
        if config.normFirst {
            throw refuse("norm_first", true, "Marian's layers are post-LN (LayerNorm after each sub-layer); "
                         + "train with --set norm_first=false")
        }
        if config.finalNorm {
            throw refuse("final_norm", true, "Marian has no LayerNorm after the encoder and decoder stacks (nn.Transformer's "
                         + "encoder.norm and decoder.norm); train with --set final_norm=false (the translate-small preset's default)")
        }
        if config.layerNormEpsilon != Self.layerNormEpsilon {
            throw refuse("layer_norm_eps", config.layerNormEpsilon, "Marian's LayerNorm epsilon is fixed at 1e-05; "
                         + "train with --set layer_norm_eps=1e-5")
        }
        self.init()
        vocabSize = config.vocabSize; decoderVocabSize = config.vocabSize
        modelSize = config.modelSize; encoderLayers = config.encoderLayerCount; decoderLayers = config.decoderLayerCount
        encoderHeads = config.headCount; decoderHeads = config.headCount
        encoderFeedForward = config.feedForwardSize; decoderFeedForward = config.feedForwardSize
        maxPositions = config.maxPositions
        let p = Double("\(config.dropout)") ?? Double(config.dropout)  // 0.1, not 0.10000000149011612
        dropout = p; attentionDropout = p; activationDropout = p
        activation = "relu"; scaleEmbedding = true
        padTokenId = config.padTokenId; eosTokenId = config.eosTokenId; forcedEosTokenId = config.eosTokenId
        decoderStartTokenId = config.bosTokenId; bosTokenId = config.bosTokenId
        shareEmbeddings = config.shareEmbeddings; tieWordEmbeddings = true
    }

    /// Our config for this Marian model; the error names `path`, the key and why we cannot take it.
    public func seq2seqConfig(path: String) throws -> Seq2SeqConfig {
        func refuse(_ reason: String) -> CheckpointError {
            CheckpointError.invalidConfig(path: path, reason: reason + " (this MarianMTModel is not an architecture we run)")
        }
        func equal<T: Equatable>(_ a: (String, T), _ b: (String, T)) throws {
            if a.1 != b.1 { throw refuse("\(a.0) \(a.1) differs from \(b.0) \(b.1); ours has one value for both") }
        }
        if activation != "relu" { throw refuse("activation_function is \"\(activation)\"; ours is relu") }
        if !scaleEmbedding { throw refuse("scale_embedding is false; ours scales embeddings by √d_model") }
        if normalizeBefore == true { throw refuse("normalize_before is true (pre-LN); Marian's post-LN is what we read") }
        if normalizeEmbedding == true { throw refuse("normalize_embedding is true; ours has no LayerNorm on the embeddings") }
        if addFinalLayerNorm == true { throw refuse("add_final_layer_norm is true; Marian's layout has no final LayerNorm") }
        if staticPositionEmbeddings == false { throw refuse("static_position_embeddings is false (learned positions); ours are sinusoidal") }
        if addBiasLogits == true { throw refuse("add_bias_logits is true; ours has no output bias") }
        if !tieWordEmbeddings { throw refuse("tie_word_embeddings is false; ours ties the output projection to the target table") }
        try equal(("decoder_vocab_size", decoderVocabSize ?? vocabSize), ("vocab_size", vocabSize))
        try equal(("decoder_attention_heads", decoderHeads), ("encoder_attention_heads", encoderHeads))
        try equal(("decoder_ffn_dim", decoderFeedForward), ("encoder_ffn_dim", encoderFeedForward))
        try equal(("attention_dropout", attentionDropout), ("dropout", dropout))
        try equal(("activation_dropout", activationDropout), ("dropout", dropout))
        if encoderLayerDrop != 0 || decoderLayerDrop != 0 { throw refuse("layer drop is on; ours runs every layer") }
        guard let pad = padTokenId else { throw refuse("pad_token_id is null; ours needs a padding id") }
        guard let eos = eosTokenId else { throw refuse("eos_token_id is null; ours needs an end-of-sequence id") }
        guard let start = decoderStartTokenId else { throw refuse("decoder_start_token_id is null; ours needs a start id") }
        let config = Seq2SeqConfig(vocabSize: vocabSize, modelSize: modelSize, headCount: encoderHeads,
                                   feedForwardSize: encoderFeedForward, encoderLayerCount: encoderLayers,
                                   decoderLayerCount: decoderLayers, dropout: Float(dropout), maxPositions: maxPositions,
                                   normFirst: false, shareEmbeddings: shareEmbeddings, finalNorm: false, padTokenId: pad,
                                   bosTokenId: start, eosTokenId: eos, layerNormEpsilon: Self.layerNormEpsilon)
        try config.validate()
        return config
    }
}

/// Why a model cannot be written as a MarianMTModel: the config key, its value, and what to do instead.
public struct MarianExportError: Error, CustomStringConvertible, Equatable {
    public var field: String, value: String, reason: String
    public var description: String { "cannot export as a Hugging Face MarianMTModel: \(field) is \(value); \(reason)" }
}

extension MarianConfigFile: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", architectures, isEncoderDecoder = "is_encoder_decoder", dtype
        case vocabSize = "vocab_size", decoderVocabSize = "decoder_vocab_size", modelSize = "d_model"
        case encoderLayers = "encoder_layers", decoderLayers = "decoder_layers"
        case encoderHeads = "encoder_attention_heads", decoderHeads = "decoder_attention_heads"
        case encoderFeedForward = "encoder_ffn_dim", decoderFeedForward = "decoder_ffn_dim"
        case maxPositions = "max_position_embeddings", dropout, attentionDropout = "attention_dropout"
        case activationDropout = "activation_dropout", encoderLayerDrop = "encoder_layerdrop", decoderLayerDrop = "decoder_layerdrop"
        case activation = "activation_function", scaleEmbedding = "scale_embedding"
        case padTokenId = "pad_token_id", eosTokenId = "eos_token_id", decoderStartTokenId = "decoder_start_token_id"
        case bosTokenId = "bos_token_id", forcedEosTokenId = "forced_eos_token_id"
        case shareEmbeddings = "share_encoder_decoder_embeddings", tieWordEmbeddings = "tie_word_embeddings"
        case normalizeBefore = "normalize_before", normalizeEmbedding = "normalize_embedding"
        case addFinalLayerNorm = "add_final_layer_norm", staticPositionEmbeddings = "static_position_embeddings"
        case addBiasLogits = "add_bias_logits"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ rule: String) throws -> T? {
            do { return try c.decodeIfPresent(T.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: GPTConfig.rawValue(of: error), rule: rule)
            }
        }
        /// .some(nil) for an explicit null, nil when absent.
        func nullable(_ key: CodingKeys) throws -> Int?? {
            guard c.contains(key) else { return nil }
            if try c.decodeNil(forKey: key) { return .some(nil) }
            return .some(try value(key, "must be an integer or null") as Int?)
        }
        let type: String? = try value(.modelType, "must be a string")
        if let type, type != Self.modelType {
            throw GPTConfigError(field: "model_type", value: type, rule: "must be \(Self.modelType) for a MarianMTModel")
        }
        self.init()
        let integer = "must be an integer", number = "must be a number", boolean = "must be true or false"
        vocabSize = try value(.vocabSize, integer) ?? vocabSize
        decoderVocabSize = try nullable(.decoderVocabSize) ?? nil
        modelSize = try value(.modelSize, integer) ?? modelSize
        encoderLayers = try value(.encoderLayers, integer) ?? encoderLayers
        decoderLayers = try value(.decoderLayers, integer) ?? decoderLayers
        encoderHeads = try value(.encoderHeads, integer) ?? encoderHeads
        decoderHeads = try value(.decoderHeads, integer) ?? decoderHeads
        encoderFeedForward = try value(.encoderFeedForward, integer) ?? encoderFeedForward
        decoderFeedForward = try value(.decoderFeedForward, integer) ?? decoderFeedForward
        maxPositions = try value(.maxPositions, integer) ?? maxPositions
        dropout = try value(.dropout, number) ?? dropout
        attentionDropout = try value(.attentionDropout, number) ?? attentionDropout
        activationDropout = try value(.activationDropout, number) ?? activationDropout
        encoderLayerDrop = try value(.encoderLayerDrop, number) ?? encoderLayerDrop
        decoderLayerDrop = try value(.decoderLayerDrop, number) ?? decoderLayerDrop
        activation = try value(.activation, "must be a string") ?? activation
        scaleEmbedding = try value(.scaleEmbedding, boolean) ?? scaleEmbedding
        padTokenId = try nullable(.padTokenId) ?? padTokenId
        eosTokenId = try nullable(.eosTokenId) ?? eosTokenId
        decoderStartTokenId = try nullable(.decoderStartTokenId) ?? decoderStartTokenId
        bosTokenId = try nullable(.bosTokenId) ?? bosTokenId
        forcedEosTokenId = try nullable(.forcedEosTokenId) ?? forcedEosTokenId
        shareEmbeddings = try value(.shareEmbeddings, boolean) ?? shareEmbeddings
        tieWordEmbeddings = try value(.tieWordEmbeddings, boolean) ?? tieWordEmbeddings
        normalizeBefore = try value(.normalizeBefore, boolean)
        normalizeEmbedding = try value(.normalizeEmbedding, boolean)
        addFinalLayerNorm = try value(.addFinalLayerNorm, boolean)
        staticPositionEmbeddings = try value(.staticPositionEmbeddings, boolean)
        addBiasLogits = try value(.addBiasLogits, boolean)
    }

    /// The keys MarianConfig.save_pretrained writes that matter here (the BART-era ones only when set).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.modelType, forKey: .modelType)
        try c.encode(["MarianMTModel"], forKey: .architectures)
        try c.encode(true, forKey: .isEncoderDecoder)
        try c.encode("float32", forKey: .dtype)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(decoderVocabSize ?? vocabSize, forKey: .decoderVocabSize)
        try c.encode(modelSize, forKey: .modelSize)
        try c.encode(encoderLayers, forKey: .encoderLayers)
        try c.encode(decoderLayers, forKey: .decoderLayers)
        try c.encode(encoderHeads, forKey: .encoderHeads)
        try c.encode(decoderHeads, forKey: .decoderHeads)
        try c.encode(encoderFeedForward, forKey: .encoderFeedForward)
        try c.encode(decoderFeedForward, forKey: .decoderFeedForward)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(activationDropout, forKey: .activationDropout)
        try c.encode(encoderLayerDrop, forKey: .encoderLayerDrop)
        try c.encode(decoderLayerDrop, forKey: .decoderLayerDrop)
        try c.encode(activation, forKey: .activation)
        try c.encode(scaleEmbedding, forKey: .scaleEmbedding)
        for (key, id) in [(CodingKeys.padTokenId, padTokenId), (.eosTokenId, eosTokenId), (.decoderStartTokenId, decoderStartTokenId),
                          (.bosTokenId, bosTokenId), (.forcedEosTokenId, forcedEosTokenId)] {
            if let id { try c.encode(id, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        try c.encode(shareEmbeddings, forKey: .shareEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(normalizeBefore, forKey: .normalizeBefore)
        try c.encodeIfPresent(normalizeEmbedding, forKey: .normalizeEmbedding)
        try c.encodeIfPresent(addFinalLayerNorm, forKey: .addFinalLayerNorm)
        try c.encodeIfPresent(staticPositionEmbeddings, forKey: .staticPositionEmbeddings)
        try c.encodeIfPresent(addBiasLogits, forKey: .addBiasLogits)
    }
}
