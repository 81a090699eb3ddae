// Everything that defines a training run, by the names users write in config files and
// `--set key=value`: model fields as Hugging Face GPT2Config names them, training fields
// as nanoGPT does (README lists them all). Presets are values of this type.
import Foundation
import GPTCore
import GPTKernels

public struct TrainingConfig: Equatable, Sendable {
    public var model: GPTConfig
    public var batchSize = 12
    public var learningRate: Float = 1e-3
    public var minLearningRate: Float = 1e-4
    public var warmupSteps = 100
    public var steps = 2000
    /// Steps over which the rate decays to the minimum (nanoGPT's lr_decay_iters); nil: `steps`.
    public var decaySteps: Int?
    /// cosine (default) or the 2017 Transformer's inverse square root (`lr_schedule`).
    public var scheduleKind: LearningRateSchedule.Kind = .cosine
    /// The inverse-square-root schedule's factor (`lr_scale`).
    public var learningRateScale: Float = 1
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    /// nanoGPT's shakespeare_char value ("a bit bigger because the number of tokens per iter is
    /// small"); the gpt2-124m preset sets GPT-2's 0.95.
    public var beta2: Float = 0.99
    public var gradClip: Float = 1
    public var gradAccumulation = 1
    /// See `TrainingOptions.orderedAccumulation`.
    public var orderedAccumulation = false
    public var evalEvery = 250
    public var evalBatches = 20
    public var seed: UInt64 = 1337
    /// The architecture (`model_type`): the GPT (gpt2) or the encoder–decoder Transformer (transformer).
    public var modelType: ModelType = .gpt2
    /// The encoder–decoder's feed-forward width (`dim_feedforward`); nil: 4 × n_embd.
    public var feedForwardSize: Int?
    /// Pre-LN instead of the paper's post-LN (`norm_first`, encoder–decoder only).
    public var normFirst = false
    /// A LayerNorm after each encoder–decoder stack, as nn.Transformer has (`final_norm`).
    public var finalNorm = true
    /// Label smoothing ε of the encoder–decoder's training loss (`label_smoothing`).
    public var labelSmoothing: Float = 0.1
    /// Tokens per encoder–decoder batch, padding counted (`max_tokens`): source and target positions.
    public var maxTokens = 4096

    public enum ModelType: String, Sendable, Equatable { case gpt2, transformer }

    public init(model: GPTConfig) { self.model = model }

    /// The named starting points; the vocabulary size comes from the tokenizer later.
    public static func preset(_ name: String) throws -> TrainingConfig {
        switch name {
        case "demo":
            var c = TrainingConfig(model: GPTConfig(vocabSize: 1, contextLength: 64, embeddingSize: 128, layerCount: 4, headCount: 4))
            c.steps = 1500; c.evalEvery = 250
            return c
        case "shakespeare-char-cpu":  // nanoGPT config/train_shakespeare_char.py with its CPU overrides (bias off, as train.py)
            var c = TrainingConfig(model: GPTConfig(vocabSize: 1, contextLength: 64, embeddingSize: 128, layerCount: 4, headCount: 4,
                                                    bias: false))
            c.steps = 2000; c.decaySteps = 2000; c.evalBatches = 20
            return c
        case "shakespeare-char":  // nanoGPT config/train_shakespeare_char.py
            var c = TrainingConfig(model: GPTConfig(vocabSize: 1, contextLength: 256, embeddingSize: 384, layerCount: 6, headCount: 6,
                                                    dropout: 0.2, bias: false))
            c.batchSize = 64; c.steps = 5000; c.decaySteps = 5000; c.evalEvery = 250; c.evalBatches = 200
            return c
        case "gpt2-124m":  // nanoGPT config/train_gpt2.py, per step of one process
            var c = TrainingConfig(model: GPTConfig(vocabSize: 50257, contextLength: 1024, embeddingSize: 768, layerCount: 12,
                                                    headCount: 12))
            c.batchSize = 12; c.gradAccumulation = 40; c.learningRate = 6e-4; c.minLearningRate = 6e-5
            c.warmupSteps = 2000; c.steps = 600_000; c.beta2 = 0.95; c.evalEvery = 1000; c.evalBatches = 200
            return c
        case "translate-small":
            // The 2017 Transformer's base recipe at a quarter of its width: 6 + 6 layers of 256, 4 heads,
            // d_ff 1024, dropout 0.1, label smoothing 0.1, Adam β2 0.98 without weight decay, and the
            // inverse-square-root schedule. The paper's 4000 warmup steps assume ~100k steps; a CPU budget
            // runs a few thousand, so warmup is 1000 and lr_scale 0.5 keeps the peak at
            // 0.5 · 256^-0.5 · 1000^-0.5 ≈ 9.9e-4, the peak the paper's warmup 4000 would give at d 256.
            var c = TrainingConfig(model: GPTConfig(vocabSize: 1, contextLength: 256, embeddingSize: 256, layerCount: 6, headCount: 4,
                                                    dropout: 0.1))
            // No LayerNorm after the post-LN stacks (each already ends in one), so the model exports as Marian.
            c.modelType = .transformer; c.feedForwardSize = 1024; c.maxTokens = 4096; c.finalNorm = false
            c.scheduleKind = .inverseSquareRoot; c.warmupSteps = 1000; c.learningRateScale = 0.5
            c.beta2 = 0.98; c.weightDecay = 0; c.steps = 4000; c.evalEvery = 250; c.evalBatches = 20
            return c
        default:
            throw TrainingConfigError.unknownPreset(name)
        }
    }

    public static let presets = ["demo", "shakespeare-char-cpu", "shakespeare-char", "gpt2-124m", "translate-small"]

    /// The configuration table: every field users can set, in the order help lists them.
    public static let fields: [ConfigField] = {
        let probability = { @Sendable (p: Float) in p >= 0 && p < 1 }
        let unit = "a probability in [0, 1)"
        return [
            .choice("model_type", \.modelType, ["gpt2": ModelType.gpt2, "transformer": .transformer],
                    "gpt2 (the decoder-only GPT, trained on text with --data) or transformer (the encoder–decoder of "
                        + "\"Attention Is All You Need\", trained on pairs with --pairs; n_embd is d_model, n_layer the "
                        + "layers of each stack, n_positions the longest source or target, resid_pdrop its one dropout)"),
            .integer("n_positions", \.model.contextLength, 1...GPTConfig.limits.contextLength, shape: true, "context length in tokens"),
            .integer("n_embd", \.model.embeddingSize, 1...GPTConfig.limits.embeddingSize, shape: true,
                     "width (divisible by n_head)"),
            .integer("n_layer", \.model.layerCount, 1...GPTConfig.limits.layerCount, shape: true, "transformer blocks"),
            .integer("n_head", \.model.headCount, 1...1_024, shape: true, "attention heads"),
            .number("embd_pdrop", \.model.embeddingDropout, unit, probability, "dropout on the embeddings"),
            .number("attn_pdrop", \.model.attentionDropout, unit, probability, "dropout on the attention weights"),
            .number("resid_pdrop", \.model.residualDropout, unit, probability, "dropout on the residual branches"),
            ConfigField(key: "dropout", meaning: "sets embd_pdrop, attn_pdrop and resid_pdrop", allowed: unit, changesShape: false,
                        read: { config, value in
                            guard let p = ConfigField.floatValue(value), p.isFinite, probability(p) else {
                                throw TrainingConfigError.invalid("dropout", "\(value)", unit)
                            }
                            (config.model.embeddingDropout, config.model.attentionDropout, config.model.residualDropout) = (p, p, p)
                        }, write: { _ in nil }),
            ConfigField(key: "activation_function", meaning: "the MLP's activation: gelu_new (GPT-2's tanh GELU), gelu (exact erf GELU) or relu",
                        allowed: Activation.huggingFaceNameList, changesShape: true, read: { config, value in
                            guard case let .text(name) = value, let activation = Activation(huggingFaceName: name) else {
                                throw TrainingConfigError.invalid("activation_function", "\(value)", Activation.huggingFaceNameList)
                            }
                            config.model.activation = activation
                        }, write: { $0.model.activation.huggingFaceName }),
            ConfigField(key: "bias", meaning: "biases in linear layers and LayerNorm", allowed: "true or false", changesShape: true,
                        read: { config, value in
                            switch value {
                            case let .bool(b): config.model.bias = b
                            case let .text(t) where Bool(t) != nil: config.model.bias = Bool(t)!
                            default: throw TrainingConfigError.invalid("bias", "\(value)", "true or false")
                            }
                        }, write: { $0.model.bias }),
            .choice("position_embedding", \.model.positions, ["learned": PositionEncoding.learned, "sinusoidal": .sinusoidal],
                    "learned (GPT-2) or sinusoidal (the 2017 Transformer's) positions"),
            ConfigField(key: "dim_feedforward", meaning: "the encoder–decoder's feed-forward width (default 4 × n_embd)",
                        allowed: "an integer in 1...\(Seq2SeqConfig.limits.feedForwardSize)", changesShape: true, read: { config, value in
                            guard let v = ConfigField.integerValue(value), (1...Seq2SeqConfig.limits.feedForwardSize).contains(v) else {
                                throw TrainingConfigError.invalid("dim_feedforward", "\(value)",
                                                                  "an integer in 1...\(Seq2SeqConfig.limits.feedForwardSize)")
                            }
                            config.feedForwardSize = v
                        }, write: { $0.feedForwardSize ?? 4 * $0.model.embeddingSize }),
            .choice("norm_first", \.normFirst, ["false": false, "true": true],
                    "the encoder–decoder's LayerNorm before each sub-layer (pre-LN) instead of after it (post-LN, the paper's)"),
            .choice("final_norm", \.finalNorm, ["false": false, "true": true],
                    "the encoder–decoder's LayerNorm after each stack (nn.Transformer's encoder.norm and decoder.norm; "
                        + "a post-LN stack already ends in one, and Marian, the Hugging Face export, has none)"),
            .number("label_smoothing", \.labelSmoothing, unit, probability,
                    "label smoothing of the encoder–decoder's training loss (the paper's 0.1)"),
            .integer("max_tokens", \.maxTokens, 2...16_777_216,
                     "tokens per encoder–decoder batch, source and target positions with padding (pairs are grouped by length)"),
            .integer("batch_size", \.batchSize, 1...65_536, "sequences per micro-batch"),
            .number("learning_rate", \.learningRate, "a finite number > 0", { $0 > 0 }, "peak learning rate"),
            .number("min_learning_rate", \.minLearningRate, "a finite number ≥ 0", { $0 >= 0 },
                    "the floor of the cosine decay"),
            .integer("warmup_steps", \.warmupSteps, 0...Int(Int32.max), "linear warmup steps"),
            .integer("steps", \.steps, 1...Int(Int32.max), "optimizer steps"),
            ConfigField(key: "lr_decay_steps", meaning: "cosine decay until this step (default: steps)",
                        allowed: "an integer in 1...\(Int32.max)", changesShape: false, read: { config, value in
                            guard let v = ConfigField.integerValue(value), (1...Int(Int32.max)).contains(v) else {
                                throw TrainingConfigError.invalid("lr_decay_steps", "\(value)", "an integer in 1...\(Int32.max)")
                            }
                            config.decaySteps = v
                        }, write: { $0.decaySteps ?? $0.steps }),
            .choice("lr_schedule", \.scheduleKind, ["cosine": LearningRateSchedule.Kind.cosine, "inverse_sqrt": .inverseSquareRoot],
                     shape: false, "cosine (warmup, then cosine decay from learning_rate to min_learning_rate) or inverse_sqrt "
                        + "(the 2017 Transformer's: lr_scale · n_embd^-0.5 · min(step^-0.5, step · warmup_steps^-1.5); "
                        + "learning_rate and min_learning_rate unused)"),
            .number("lr_scale", \.learningRateScale, "a finite number > 0", { $0 > 0 }, "the factor of the inverse_sqrt schedule"),
            .number("weight_decay", \.weightDecay, "a number in [0, 10]", { $0 >= 0 && $0 <= 10 },
                    "AdamW's decoupled weight decay (tensors of 2+ dimensions only)"),
            .number("beta1", \.beta1, "a number in [0, 1)", probability, "AdamW's first-moment decay"),
            .number("beta2", \.beta2, "a number in [0, 1)", probability, "AdamW's second-moment decay"),
            .number("grad_clip", \.gradClip, "a number ≥ 0 (0 disables clipping)", { $0 >= 0 }, "maximum global gradient norm"),
            .integer("grad_accumulation", \.gradAccumulation, 1...65_536, "micro-batches per optimizer step (per rank under mpirun)"),
            .choice("accumulation_order", \.orderedAccumulation, ["in_place": false, "ordered": true], shape: false,
                    "in_place (add each micro-batch's gradient as backward computes it) or ordered (compute it alone, "
                        + "then add it, as MPI ranks do: N ranks then match one process bit for bit; one more gradient buffer)"),
            .integer("eval_every", \.evalEvery, 0...Int(Int32.max), "evaluate, sample and save every N steps (0: never)"),
            .integer("eval_batches", \.evalBatches, 1...1_000_000, "batches per split at each evaluation"),
            ConfigField(key: "seed", meaning: "initialisation, data order, dropout, sampling", allowed: "an integer in 0...\(UInt64.max)",
                        changesShape: false, read: { config, value in
                            switch value {
                            case let .integer(i) where i >= 0: config.seed = UInt64(i)
                            case let .unsigned(u): config.seed = u
                            case let .text(t) where UInt64(t) != nil: config.seed = UInt64(t)!
                            default: throw TrainingConfigError.invalid("seed", "\(value)", "an integer in 0...\(UInt64.max)")
                            }
                        }, write: { $0.seed }),
        ]
    }()

    public static func field(_ key: String) -> ConfigField? { fields.first { $0.key == key } }

    /// The keys of the fields that change the model's shape.
    public static var shapeFields: [String] { fields.filter(\.changesShape).map(\.key) }

    /// Sets one field from its text; the error names the field, the value and what is allowed.
    public mutating func set(_ key: String, _ text: String) throws {
        try set(key, .text(text))
    }

    public mutating func set(_ key: String, _ value: ConfigValue) throws {
        guard let field = Self.field(key) else { throw TrainingConfigError.unknownField(key) }
        try field.read(&self, value)
    }

    /// Fields that mean nothing for one architecture or one schedule; `inapplicable` names them.
    static let gptOnlyFields: Set<String> = ["embd_pdrop", "attn_pdrop", "activation_function", "bias", "position_embedding",
                                             "batch_size", "accumulation_order"]
    static let transformerOnlyFields: Set<String> = ["dim_feedforward", "norm_first", "final_norm", "label_smoothing", "max_tokens"]
    static let cosineOnlyFields: Set<String> = ["learning_rate", "min_learning_rate", "lr_decay_steps"]
    static let inverseSquareRootOnlyFields: Set<String> = ["lr_scale"]

    /// The first of `keys` (fields a user set) that this config's model_type or lr_schedule ignores,
    /// with why: setting it is a mistake to report, not to pass over.
    public func inapplicable(_ keys: [String]) -> (key: String, reason: String)? {
        for key in keys {
            if modelType == .transformer, Self.gptOnlyFields.contains(key) {
                return (key, "does not apply to model_type transformer (the encoder–decoder has ReLU, biases, sinusoidal "
                            + "positions and one dropout, resid_pdrop or dropout; its batches are max_tokens, and micro-batches add in place)")
            }
            if modelType == .gpt2, Self.transformerOnlyFields.contains(key) {
                return (key, "applies to model_type transformer (the encoder–decoder) only")
            }
            if scheduleKind == .inverseSquareRoot, Self.cosineOnlyFields.contains(key) {
                return (key, "does not apply to lr_schedule inverse_sqrt, whose rate is lr_scale · n_embd^-0.5 · "
                            + "min(step^-0.5, step · warmup_steps^-1.5)")
            }
            if scheduleKind == .cosine, Self.inverseSquareRootOnlyFields.contains(key) {
                return (key, "applies to lr_schedule inverse_sqrt only (cosine peaks at learning_rate)")
            }
        }
        return nil
    }

    /// Applies every field of a JSON object, e.g. a config file (duplicate keys refused).
    public mutating func apply(json data: Data, source: String) throws {
        for (key, value) in try ConfigValue.object(json: data, source: source) { try set(key, value) }
    }

    /// The rate schedule this config describes.
    public var schedule: LearningRateSchedule {
        switch scheduleKind {
        case .cosine:
            return LearningRateSchedule(maxRate: learningRate, minRate: minLearningRate, warmupSteps: warmupSteps,
                                        decaySteps: decaySteps ?? steps)
        case .inverseSquareRoot:
            return .inverseSquareRoot(modelWidth: model.embeddingSize, warmupSteps: warmupSteps, scale: learningRateScale)
        }
    }

    /// AdamW as this config sets it (ε is PyTorch's 1e-8).
    public var optimizer: AdamWHyperparameters {
        AdamWHyperparameters(beta1: beta1, beta2: beta2, eps: AdamWHyperparameters.pytorch.eps, weightDecay: weightDecay)
    }

    /// Options for `Trainer`.
    public var options: TrainingOptions {
        var o = TrainingOptions()
        o.batchSize = batchSize; o.steps = steps; o.schedule = schedule; o.gradientClip = gradClip
        o.gradientAccumulation = gradAccumulation; o.orderedAccumulation = orderedAccumulation; o.evalEvery = evalEvery; o.evalBatches = evalBatches; o.seed = seed
        o.optimizer = optimizer
        return o
    }

    /// Every field and its value, for printing and for the run's config.json.
    public var resolved: [String: Any] {
        var out: [String: Any] = ["vocab_size": model.vocabSize]
        for field in Self.fields { if let value = field.write(self) { out[field.key] = value } }
        return out
    }
}

public enum TrainingConfigError: Error, CustomStringConvertible, Equatable {
    case unknownPreset(String)
    case unknownField(String)
    case invalid(String, String, String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case let .unknownPreset(name): return "unknown preset '\(name)'; available: \(TrainingConfig.presets.joined(separator: ", "))"
        case let .unknownField(key):
            return "unknown config field '\(key)'; known fields: \(TrainingConfig.fields.map(\.key).joined(separator: ", "))"
        case let .invalid(key, value, allowed): return "invalid config: \(key) = \(value): must be \(allowed)"
        case let .unreadable(source, reason): return "cannot read config \(source): \(reason)"
        }
    }
}
