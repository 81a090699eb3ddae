// One flat layout of every parameter tensor: name (GPT-2's own, without the
// `transformer.` prefix), shape and offset. Parameters, gradients and both AdamW
// moments are buffers of this one layout, so the optimizer is a flat loop, zeroing
// gradients is one fill, and a checkpoint is one walk over the list. A classifier's head
// (`score.weight` [K, C], `score.bias` [K], GPT2ForSequenceClassification's names plus a
// bias) joins the same layout, so fine-tuning has one parameter store and one optimizer.

public struct ParameterTensor: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Weight decay applies to matrices and embeddings, not to biases or LayerNorm gains.
    public var decays: Bool { shape.count >= 2 }
}

/// Tensors laid end to end in one flat buffer, found by name: what every model's layout is built on.
public struct ParameterTable: Sendable {
    public private(set) var tensors: [ParameterTensor] = []
    /// Floats in the flat buffer.
    public private(set) var count = 0
    private var index: [String: Int] = [:]

    public init() {}

    /// Appends `name` of `shape` after the last tensor; returns its offset.
    public mutating func add(_ name: String, _ shape: [Int]) -> Int {
        let tensor = ParameterTensor(name: name, shape: shape, offset: count)
        index[name] = tensors.count
        tensors.append(tensor)
        count += tensor.count
        return tensor.offset
    }

    public subscript(name: String) -> ParameterTensor? {
        index[name].map { tensors[$0] }
    }
}

public struct ParameterLayout: Sendable {
    private var table = ParameterTable()
    public var tensors: [ParameterTensor] { table.tensors }
    public var count: Int { table.count }
    public subscript(name: String) -> ParameterTensor? { table[name] }

    /// Offsets of one transformer block's tensors (nil: no bias in this config).
    public struct Block: Sendable {
        public var ln1Weight = 0, ln1Bias: Int?, attnWeight = 0, attnBias: Int?, attnProjWeight = 0, attnProjBias: Int?
        public var ln2Weight = 0, ln2Bias: Int?, fcWeight = 0, fcBias: Int?, fcProjWeight = 0, fcProjBias: Int?
    }
    public private(set) var wte = 0
    public private(set) var wpe: Int?
    public private(set) var blocks: [Block] = []
    public private(set) var lnfWeight = 0
    public private(set) var lnfBias: Int?
    /// The classification head's weight [K, C] and bias [K], when the layout has one.
    public private(set) var score: (weight: Int, bias: Int, classCount: Int)?

    public static let scoreWeightName = "score.weight"
    public static let scoreBiasName = "score.bias"

    /// The layout of `config`'s language model, plus a head over `classCount` classes when given.
    public init(_ config: GPTConfig, classCount: Int? = nil) {
        let c = config.embeddingSize
        wte = add("wte.weight", [config.vocabSize, c])
        if config.positions == .learned { wpe = add("wpe.weight", [config.contextLength, c]) }
        func bias(_ name: String, _ n: Int) -> Int? { config.bias ? add(name, [n]) : nil }
        for l in 0..<config.layerCount {
            let p = "h.\(l)."
            var b = Block()
            b.ln1Weight = add(p + "ln_1.weight", [c]); b.ln1Bias = bias(p + "ln_1.bias", c)
            b.attnWeight = add(p + "attn.c_attn.weight", [c, 3 * c]); b.attnBias = bias(p + "attn.c_attn.bias", 3 * c)
            b.attnProjWeight = add(p + "attn.c_proj.weight", [c, c]); b.attnProjBias = bias(p + "attn.c_proj.bias", c)
            b.ln2Weight = add(p + "ln_2.weight", [c]); b.ln2Bias = bias(p + "ln_2.bias", c)
            b.fcWeight = add(p + "mlp.c_fc.weight", [c, 4 * c]); b.fcBias = bias(p + "mlp.c_fc.bias", 4 * c)
            b.fcProjWeight = add(p + "mlp.c_proj.weight", [4 * c, c]); b.fcProjBias = bias(p + "mlp.c_proj.bias", c)
            blocks.append(b)
        }
        lnfWeight = add("ln_f.weight", [c]); lnfBias = bias("ln_f.bias", c)
        if let k = classCount {
            score = (add(Self.scoreWeightName, [k, c]), add(Self.scoreBiasName, [k]), k)
        }
    }

    /// Whether `name` is a tensor of the classification head (stored without `transformer.`).
    public static func isHead(_ name: String) -> Bool { name.hasPrefix("score.") }

    private mutating func add(_ name: String, _ shape: [Int]) -> Int { table.add(name, shape) }

    /// The residual projections, whose initial std GPT-2 scales by 1/√(2·n_layer).
    public static func isResidualProjection(_ name: String) -> Bool {
        name.hasSuffix("attn.c_proj.weight") || name.hasSuffix("mlp.c_proj.weight")
    }
}
