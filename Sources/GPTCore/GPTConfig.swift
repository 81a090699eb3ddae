// The shape of a GPT model. Field names on disk are Hugging Face GPT2Config's
// (`n_embd`, `n_layer`, …) so a config.json moves between the two worlds unchanged;
// the two choices GPT2Config lacks (bias, position encoding) are stored under names
// of our own, and absent keys take GPT-2's defaults.
import GPTKernels

public enum PositionEncoding: String, Codable, Sendable {
    case learned, sinusoidal
}

public struct GPTConfig: Equatable, Sendable {
    public var vocabSize: Int
    public var contextLength: Int
    public var embeddingSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var embeddingDropout: Float
    public var attentionDropout: Float
    public var residualDropout: Float
    public var bias: Bool
    public var activation: Activation
    public var positions: PositionEncoding
    public var layerNormEpsilon: Float

    public init(vocabSize: Int = 50257, contextLength: Int = 1024, embeddingSize: Int = 768,
                layerCount: Int = 12, headCount: Int = 12, dropout: Float = 0,
                bias: Bool = true, activation: Activation = .gelu, positions: PositionEncoding = .learned,
                layerNormEpsilon: Float = 1e-5) {
        self.vocabSize = vocabSize; self.contextLength = contextLength; self.embeddingSize = embeddingSize
        self.layerCount = layerCount; self.headCount = headCount
        embeddingDropout = dropout; attentionDropout = dropout; residualDropout = dropout
        self.bias = bias; self.activation = activation; self.positions = positions
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// GPT-2 124M (the smallest OpenAI release).
    public static let gpt2 = GPTConfig()

    public var headSize: Int { embeddingSize / headCount }

    /// The largest value `validate` accepts for each size field (n_head: at most n_embd).
    public static let limits = (vocabSize: 16_777_216, contextLength: 1_048_576, embeddingSize: 65_536, layerCount: 1_024)

    /// Checks every field; the error names the field, its value and what is allowed.
    public func validate() throws {
        func fail(_ field: String, _ value: Any, _ rule: String) -> GPTConfigError {
            GPTConfigError(field: field, value: "\(value)", rule: rule)
        }
        // Bounds that no model this code can train or run comes near, so that every size derived
        // from them (ParameterLayout, activations, KV cache) fits in 64-bit arithmetic; the
        // memory a config needs is checked separately (MemoryBudget).
        func bound(_ field: String, _ value: Int, _ limit: Int) throws {
            if value < 1 || value > limit { throw fail(field, value, "must be in 1...\(limit)") }
        }
        try bound("vocab_size", vocabSize, Self.limits.vocabSize)
        try bound("n_positions", contextLength, Self.limits.contextLength)
        try bound("n_embd", embeddingSize, Self.limits.embeddingSize)
        try bound("n_layer", layerCount, Self.limits.layerCount)
        try bound("n_head", headCount, embeddingSize)
        if embeddingSize % headCount != 0 {
            throw fail("n_embd", embeddingSize, "must be divisible by n_head (\(headCount))")
        }
        for (field, p) in [("embd_pdrop", embeddingDropout), ("attn_pdrop", attentionDropout), ("resid_pdrop", residualDropout)]
        where !(p >= 0 && p < 1) {
            throw fail(field, p, "must be in [0, 1)")
        }
        if !(layerNormEpsilon > 0) { throw fail("layer_norm_epsilon", layerNormEpsilon, "must be positive") }
    }
}

public struct GPTConfigError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let value: String
    public let rule: String
    public init(field: String, value: String, rule: String) { self.field = field; self.value = value; self.rule = rule }
    public var description: String { "invalid config: \(field) = \(value): \(rule)" }
}

extension GPTConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", contextLength = "n_positions", embeddingSize = "n_embd"
        case layerCount = "n_layer", headCount = "n_head", embeddingDropout = "embd_pdrop"
        case attentionDropout = "attn_pdrop", residualDropout = "resid_pdrop", bias
        case activation = "activation_function", positions = "position_embedding"
        case layerNormEpsilon = "layer_norm_epsilon"
        case modelType = "model_type", architectures, tieWordEmbeddings = "tie_word_embeddings", nInner = "n_inner"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GPTConfig(dropout: 0.1)
        // Each field's own words on a wrong type (`32.5` or `true` for n_layer), instead of a decoder dump.
        func integer(_ key: CodingKeys) throws -> Int? {
            do { return try c.decodeIfPresent(Int.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: Self.rawValue(of: error), rule: "must be an integer")
            }
        }
        // Numbers are read as Double and narrowed, so 1e-50 is a (zero) probability, not a decoding error.
        func number(_ key: CodingKeys) throws -> Float? {
            let value: Double?
            do { value = try c.decodeIfPresent(Double.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: Self.rawValue(of: error), rule: "must be a number")
            }
            return value.map(Float.init)
        }
        func boolean(_ key: CodingKeys) throws -> Bool? {
            do { return try c.decodeIfPresent(Bool.self, forKey: key) } catch {
                throw GPTConfigError(field: key.stringValue, value: Self.rawValue(of: error), rule: "must be true or false")
            }
        }
        vocabSize = try integer(.vocabSize) ?? d.vocabSize
        contextLength = try integer(.contextLength) ?? d.contextLength
        embeddingSize = try integer(.embeddingSize) ?? d.embeddingSize
        layerCount = try integer(.layerCount) ?? d.layerCount
        headCount = try integer(.headCount) ?? d.headCount
        embeddingDropout = try number(.embeddingDropout) ?? d.embeddingDropout
        attentionDropout = try number(.attentionDropout) ?? d.attentionDropout
        residualDropout = try number(.residualDropout) ?? d.residualDropout
        bias = try boolean(.bias) ?? true
        do { positions = try c.decodeIfPresent(PositionEncoding.self, forKey: .positions) ?? .learned } catch {
            throw GPTConfigError(field: "position_embedding", value: Self.rawValue(of: error), rule: "must be learned or sinusoidal")
        }
        layerNormEpsilon = try number(.layerNormEpsilon) ?? d.layerNormEpsilon
        let name = try c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu_new"
        guard let activation = Activation(huggingFaceName: name) else {
            throw GPTConfigError(field: "activation_function", value: name, rule: "must be \(Activation.huggingFaceNameList)")
        }
        self.activation = activation
        if let inner = try integer(.nInner), inner != 4 * embeddingSize {
            throw GPTConfigError(field: "n_inner", value: "\(inner)", rule: "must be null or 4 · n_embd (\(4 * embeddingSize))")
        }
        if let tied = try boolean(.tieWordEmbeddings), !tied {
            throw GPTConfigError(field: "tie_word_embeddings", value: "false", rule: "GPT-2's LM head is tied to wte; must be true")
        }
    }

    /// What a decoding error says the value was, in a few words.
    static func rawValue(of error: Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case let .typeMismatch(_, context), let .dataCorrupted(context), let .valueNotFound(_, context):
            return context.debugDescription.count < 80 ? context.debugDescription : "a value of another type"
        default: return "a value of another type"
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(contextLength, forKey: .contextLength)
        try c.encode(embeddingSize, forKey: .embeddingSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(embeddingDropout, forKey: .embeddingDropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(residualDropout, forKey: .residualDropout)
        try c.encode(bias, forKey: .bias)
        try c.encode(activation.huggingFaceName, forKey: .activation)
        try c.encode(positions, forKey: .positions)
        try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.encode("gpt2", forKey: .modelType)
        try c.encode(["GPT2LMHeadModel"], forKey: .architectures)
        try c.encode(true, forKey: .tieWordEmbeddings)
    }
}

extension Activation {
    /// Hugging Face's `activation_function` names that we compute, as transformers' ACT2FN maps
    /// them: `gelu` and `gelu_python` are the exact erf GELU (GELUActivation); `gelu_new`
    /// (NewGELUActivation), `gelu_pytorch_tanh` and `gelu_python_tanh` (GELUTanh) and `gelu_fast`
    /// (FastGELUActivation, the same formula with √(2/π) written as 0.7978845608) are the tanh
    /// approximation. The first name of each activation is the one we save.
    static let huggingFaceNames: [(name: String, activation: Activation)] = [
        ("gelu_new", .gelu), ("gelu_pytorch_tanh", .gelu), ("gelu_fast", .gelu), ("gelu_python_tanh", .gelu),
        ("gelu", .geluExact), ("gelu_python", .geluExact), ("relu", .relu),
    ]

    /// The activation a config.json's `activation_function` names, or nil if we do not compute it.
    public init?(huggingFaceName name: String) {
        guard let entry = Self.huggingFaceNames.first(where: { $0.name == name }) else { return nil }
        self = entry.activation
    }

    /// The name saved in config.json: `gelu_new` (tanh GELU), `gelu` (exact GELU) or `relu`.
    public var huggingFaceName: String {
        Self.huggingFaceNames.first { $0.activation == self }!.name  // every case has an entry
    }

    /// The accepted names, for error messages.
    public static var huggingFaceNameList: String {
        "one of gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_python_tanh (tanh GELU, GPT-2's), gelu, gelu_python (exact erf GELU), relu"
    }
}
