// One flat layout of every parameter of the encoder–decoder Transformer, in
// ParameterTensor's terms, so parameters, gradients and AdamW's moments are buffers of
// one layout (AdamW.update(parameters:gradients:tensors:…) is the optimizer).
//
// Names are torch.nn.Transformer's own state_dict names (`encoder.layers.0.self_attn.in_proj_weight`,
// `decoder.layers.1.multihead_attn.out_proj.bias`, `encoder.norm.weight` …), plus the embedding
// tables `shared.weight` (three-way tying) or `src_embed.weight` and `tgt_embed.weight`.
// Matrices are stored [in, out], as our Linear kernel reads them: the transpose of torch's
// nn.Linear / in_proj_weight [out, in]. `Seq2SeqWeights` is the one place that transposes.
public struct Seq2SeqLayout: Sendable {
    private var table = ParameterTable()
    public var tensors: [ParameterTensor] { table.tensors }
    public var count: Int { table.count }
    public subscript(name: String) -> ParameterTensor? { table[name] }

    /// Offsets of one multi-head attention's tensors: in_proj [C, 3C] (q, k, v column blocks), out_proj [C, C].
    public struct Attention: Sendable {
        public var inWeight = 0, inBias = 0, outWeight = 0, outBias = 0
    }
    /// Offsets of one LayerNorm's gain and bias.
    public struct Norm: Sendable {
        public var weight = 0, bias = 0
    }
    /// Offsets of one layer: self-attention, cross-attention (decoder only), linear1 [C, F], linear2 [F, C],
    /// norm1, norm2 and norm3 (decoder only), as nn.TransformerEncoderLayer / DecoderLayer name them.
    public struct Layer: Sendable {
        public var selfAttention = Attention(), crossAttention: Attention?
        public var linear1Weight = 0, linear1Bias = 0, linear2Weight = 0, linear2Bias = 0
        public var norm1 = Norm(), norm2 = Norm(), norm3: Norm?
    }
    /// The source table [V, C], the target table [V, C] (the same offset when shared; the output projection).
    public private(set) var sourceEmbedding = 0, targetEmbedding = 0
    public private(set) var encoderLayers: [Layer] = []
    public private(set) var decoderLayers: [Layer] = []
    /// encoder.norm and decoder.norm, after each stack (absent without `final_norm`).
    public private(set) var encoderNorm: Norm?, decoderNorm: Norm?

    /// `config` must be valid (`validate`).
    public init(_ config: Seq2SeqConfig) {
        let c = config.modelSize, f = config.feedForwardSize, v = config.vocabSize
        if config.shareEmbeddings {
            sourceEmbedding = add("shared.weight", [v, c]); targetEmbedding = sourceEmbedding
        } else {
            sourceEmbedding = add("src_embed.weight", [v, c]); targetEmbedding = add("tgt_embed.weight", [v, c])
        }
        func attention(_ p: String) -> Attention {
            Attention(inWeight: add(p + "in_proj_weight", [c, 3 * c]), inBias: add(p + "in_proj_bias", [3 * c]),
                      outWeight: add(p + "out_proj.weight", [c, c]), outBias: add(p + "out_proj.bias", [c]))
        }
        func norm(_ p: String) -> Norm { Norm(weight: add(p + ".weight", [c]), bias: add(p + ".bias", [c])) }
        func layer(_ p: String, decoder: Bool) -> Layer {
            var l = Layer()
            l.selfAttention = attention(p + "self_attn.")
            if decoder { l.crossAttention = attention(p + "multihead_attn.") }
            l.linear1Weight = add(p + "linear1.weight", [c, f]); l.linear1Bias = add(p + "linear1.bias", [f])
            l.linear2Weight = add(p + "linear2.weight", [f, c]); l.linear2Bias = add(p + "linear2.bias", [c])
            l.norm1 = norm(p + "norm1"); l.norm2 = norm(p + "norm2")
            if decoder { l.norm3 = norm(p + "norm3") }
            return l
        }
        for i in 0..<config.encoderLayerCount { encoderLayers.append(layer("encoder.layers.\(i).", decoder: false)) }
        if config.finalNorm { encoderNorm = norm("encoder.norm") }
        for i in 0..<config.decoderLayerCount { decoderLayers.append(layer("decoder.layers.\(i).", decoder: true)) }
        if config.finalNorm { decoderNorm = norm("decoder.norm") }
    }

    private mutating func add(_ name: String, _ shape: [Int]) -> Int { table.add(name, shape) }

    /// Whether our tensor `name` holds the transpose of torch's: every matrix but the embedding tables.
    public static func isTransposed(_ tensor: ParameterTensor) -> Bool {
        tensor.shape.count == 2 && !tensor.name.hasSuffix("embed.weight") && tensor.name != "shared.weight"
    }
}
