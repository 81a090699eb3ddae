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
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.99
    public var gradClip: Float = 1
    public var gradAccumulation = 1
    public var evalEvery = 250
    public var evalBatches = 20
    public var seed: UInt64 = 1337

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
        default:
            throw TrainingConfigError.unknownPreset(name)
        }
    }

    public static let presets = ["demo", "shakespeare-char-cpu", "shakespeare-char", "gpt2-124m"]

    public static let fields = ["n_positions", "n_embd", "n_layer", "n_head", "embd_pdrop", "attn_pdrop", "resid_pdrop", "dropout",
                                "activation_function", "bias", "position_embedding", "batch_size", "learning_rate",
                                "min_learning_rate", "warmup_steps", "steps", "lr_decay_steps", "weight_decay", "beta1", "beta2",
                                "grad_clip", "grad_accumulation", "eval_every", "eval_batches", "seed"]

    /// Sets one field from its text; the error names the field, the value and what is allowed.
    public mutating func set(_ key: String, _ text: String) throws {
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard let v = Int(text), range.contains(v) else { throw TrainingConfigError.invalid(key, text, "an integer in \(range)") }
            return v
        }
        func float(_ allowed: String, _ ok: (Float) -> Bool) throws -> Float {
            guard let v = Float(text), v.isFinite, ok(v) else { throw TrainingConfigError.invalid(key, text, allowed) }
            return v
        }
        let probability = { (p: Float) in p >= 0 && p < 1 }
        switch key {
        case "n_positions": model.contextLength = try int(1...65536)
        case "n_embd": model.embeddingSize = try int(1...65536)
        case "n_layer": model.layerCount = try int(1...1024)
        case "n_head": model.headCount = try int(1...1024)
        case "embd_pdrop": model.embeddingDropout = try float("a probability in [0, 1)", probability)
        case "attn_pdrop": model.attentionDropout = try float("a probability in [0, 1)", probability)
        case "resid_pdrop": model.residualDropout = try float("a probability in [0, 1)", probability)
        case "dropout":
            let p = try float("a probability in [0, 1)", probability)
            (model.embeddingDropout, model.attentionDropout, model.residualDropout) = (p, p, p)
        case "activation_function":
            guard let a = Activation(huggingFaceName: text) else {
                throw TrainingConfigError.invalid(key, text, Activation.huggingFaceNameList)
            }
            model.activation = a
        case "bias":
            guard let b = Bool(text) else { throw TrainingConfigError.invalid(key, text, "true or false") }
            model.bias = b
        case "position_embedding":
            guard let p = PositionEncoding(rawValue: text) else { throw TrainingConfigError.invalid(key, text, "learned or sinusoidal") }
            model.positions = p
        case "batch_size": batchSize = try int(1...1_000_000)
        case "learning_rate": learningRate = try float("a number > 0", { $0 > 0 })
        case "min_learning_rate": minLearningRate = try float("a number ≥ 0", { $0 >= 0 })
        case "warmup_steps": warmupSteps = try int(0...Int(Int32.max))
        case "steps": steps = try int(1...Int(Int32.max))
        case "lr_decay_steps": decaySteps = try int(1...Int(Int32.max))
        case "weight_decay": weightDecay = try float("a number ≥ 0", { $0 >= 0 })
        case "beta1": beta1 = try float("a number in [0, 1)", probability)
        case "beta2": beta2 = try float("a number in [0, 1)", probability)
        case "grad_clip": gradClip = try float("a number ≥ 0 (0 disables clipping)", { $0 >= 0 })
        case "grad_accumulation": gradAccumulation = try int(1...1_000_000)
        case "eval_every": evalEvery = try int(0...Int(Int32.max))
        case "eval_batches": evalBatches = try int(1...1_000_000)
        case "seed":
            guard let s = UInt64(text) else { throw TrainingConfigError.invalid(key, text, "an integer in 0...\(UInt64.max)") }
            seed = s
        default:
            throw TrainingConfigError.unknownField(key)
        }
    }

    /// Applies every field of a JSON object, e.g. a config file.
    public mutating func apply(json data: Data, source: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TrainingConfigError.unreadable(source, "not a JSON object")
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            let text: String
            switch value {
            case let s as String: text = s
            case let b as Bool where key == "bias": text = b ? "true" : "false"
            case let n as NSNumber: text = "\(n)"
            default: throw TrainingConfigError.invalid(key, "\(value)", "a number, a string or a boolean")
            }
            try set(key, text)
        }
    }

    /// The rate schedule this config describes.
    public var schedule: LearningRateSchedule {
        LearningRateSchedule(maxRate: learningRate, minRate: minLearningRate, warmupSteps: warmupSteps, decaySteps: decaySteps ?? steps)
    }

    /// Options for `Trainer`.
    public var options: TrainingOptions {
        var o = TrainingOptions()
        o.batchSize = batchSize; o.steps = steps; o.schedule = schedule; o.gradientClip = gradClip
        o.gradientAccumulation = gradAccumulation; o.evalEvery = evalEvery; o.evalBatches = evalBatches; o.seed = seed
        o.optimizer = AdamWHyperparameters(beta1: beta1, beta2: beta2, eps: 1e-8, weightDecay: weightDecay)
        return o
    }

    /// Every field and its value, for printing and for the run's config.json.
    public var resolved: [String: Any] {
        // A Float as the shortest decimal that reads back to it (0.9, not 0.8999999761581421).
        func short(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
        return [
            "vocab_size": model.vocabSize, "n_positions": model.contextLength, "n_embd": model.embeddingSize,
            "n_layer": model.layerCount, "n_head": model.headCount, "embd_pdrop": short(model.embeddingDropout),
            "attn_pdrop": short(model.attentionDropout), "resid_pdrop": short(model.residualDropout),
            "activation_function": model.activation.huggingFaceName, "bias": model.bias,
            "position_embedding": model.positions.rawValue, "batch_size": batchSize, "learning_rate": short(learningRate),
            "min_learning_rate": short(minLearningRate), "warmup_steps": warmupSteps, "steps": steps,
            "lr_decay_steps": decaySteps ?? steps, "weight_decay": short(weightDecay), "beta1": short(beta1),
            "beta2": short(beta2), "grad_clip": short(gradClip), "grad_accumulation": gradAccumulation,
            "eval_every": evalEvery, "eval_batches": evalBatches, "seed": seed,
        ]
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
        case let .unknownField(key): return "unknown config field '\(key)'; known fields: \(TrainingConfig.fields.joined(separator: ", "))"
        case let .invalid(key, value, allowed): return "invalid config: \(key) = \(value): must be \(allowed)"
        case let .unreadable(source, reason): return "cannot read config \(source): \(reason)"
        }
    }
}
