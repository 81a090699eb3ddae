// The one place that maps between our parameter layout and a Hugging Face GPT-2
// directory (config.json + model.safetensors, as GPT2LMHeadModel.save_pretrained
// writes it). Names come as `transformer.h.0.attn.c_attn.weight` or bare
// `h.0.attn.c_attn.weight`; Conv1D weights are stored [in, out], which is our
// layout, so nothing is transposed; `lm_head.weight` is tied to `wte` and the causal
// mask buffers (`attn.bias`, `attn.masked_bias`) are not parameters.
import Foundation
import GPTIO
import GPTKernels

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case invalidConfig(path: String, reason: String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unexpectedTensor(String)
    /// A NaN or infinity in a weight: such a model only produces garbage.
    case nonFiniteWeight(tensor: String, index: Int, value: Float)
    /// A q8_0 tensor pair that does not follow the documented scheme (see LowPrecisionCheckpoint.swift).
    case invalidQuantization(tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFile(path): return "checkpoint file missing: \(path)"
        case let .invalidConfig(path, reason): return "invalid model config \(path): \(reason)"
        case let .missingTensor(name): return "checkpoint has no tensor '\(name)'"
        case let .shapeMismatch(name, expected, found):
            return "tensor '\(name)' has shape \(found) in the checkpoint, but the config needs \(expected)"
        case let .unexpectedTensor(name): return "checkpoint tensor '\(name)' is not part of this model"
        case let .nonFiniteWeight(tensor, index, value):
            return "checkpoint tensor '\(tensor)' holds \(value) at index \(index); a model with NaN or infinite weights cannot be used"
        case let .invalidQuantization(tensor, reason):
            return "checkpoint tensor '\(tensor)' is not valid q8_0: \(reason)"
        }
    }
}

public enum HuggingFaceGPT2 {
    /// Reads `directory/config.json` and `directory/model.safetensors` into a new model. The config is
    /// checked against every tensor's shape in the header (whose byte ranges the reader has checked
    /// against the file's size) before the model is allocated, and the model against memory.
    /// `weightFormat` (nil: the format the file stores) sets how the matrices are held for inference
    /// (`InferenceWeights`); fp32 upcasts every stored format, for training.
    public static func load(directory: URL, pool: ThreadPool, weightFormat: WeightFormat? = .fp32) throws -> GPT {
        let config = try loadConfig(directory.appendingPathComponent("config.json"))
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else { throw CheckpointError.missingFile(weightsURL.path) }
        let file = try SafeTensorsFile(contentsOf: weightsURL)
        try checkWeights(file, match: config)
        let model = try GPT(config: config, pool: pool)
        try loadWeights(file, into: model, weightFormat: weightFormat ?? storedWeightFormat(file))
        return model
    }

    /// Checks, allocating nothing model-sized, that `file` holds exactly the tensors of `config`'s
    /// layout (extra buffers and a classifier's head aside), each of the config's shape.
    /// With `classCount`, the head's tensors (`score.*`) are checked too, unless `includeHead` is
    /// false: a new classifier starting from a checkpoint takes its language model only.
    public static func checkWeights(_ file: SafeTensorsFile, match config: GPTConfig, classCount: Int? = nil,
                                    includeHead: Bool = true) throws {
        try config.validate()
        let layout = ParameterLayout(config, classCount: classCount)
        var found = Set<String>()
        for entry in file.entries {
            if let q8 = Q8Storage.split(entry.name) {
                guard let name = layoutName(q8.base, in: layout, includeHead: includeHead), let tensor = layout[name],
                      InferenceWeights.isMatrix(name) else { throw CheckpointError.unexpectedTensor(entry.name) }
                try Q8Storage.check(file, base: q8.base, tensor: tensor)
                if !q8.isScale { found.insert(name) }
                continue
            }
            guard let name = layoutName(entry.name, in: layout, includeHead: includeHead) else { continue }
            guard let tensor = layout[name] else {
                // A sinusoidal model's export carries its fixed table as wpe (for Hugging Face); we recompute it.
                if name == "wpe.weight" && config.positions == .sinusoidal { continue }
                throw CheckpointError.unexpectedTensor(entry.name)
            }
            guard entry.shape == tensor.shape else {
                throw CheckpointError.shapeMismatch(tensor: entry.name, expected: tensor.shape, found: entry.shape)
            }
            found.insert(name)
        }
        if let missing = layout.tensors.first(where: { !found.contains($0.name) && (includeHead || !ParameterLayout.isHead($0.name)) }) {
            throw CheckpointError.missingTensor(missing.name)
        }
    }

    /// The layout name of a stored tensor: the language model's (see `parameterName`), or a head
    /// tensor the layout has; nil for what the layout does not take.
    static func layoutName(_ stored: String, in layout: ParameterLayout, includeHead: Bool) -> String? {
        if ParameterLayout.isHead(stored) { return layout.score != nil && includeHead ? stored : nil }
        return parameterName(stored)
    }

    public static func loadConfig(_ url: URL) throws -> GPTConfig {
        let data = try ConfigFile.read(url)
        // An encoder–decoder (gpt train --pairs) has its own commands; say so rather than miss its tensors.
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let type = object["model_type"] as? String, type == Seq2SeqConfig.modelType || type == MarianConfigFile.modelType {
            throw CheckpointError.invalidConfig(path: url.path, reason: "it describes an encoder–decoder Transformer (model_type "
                                                + "\"\(type)\"), which gpt translate and gpt eval --pairs take; this command takes a GPT")
        }
        let config = try ConfigFile.decode(GPTConfig.self, from: data, path: url.path)
        try config.validate()
        return config
    }

    /// Our name for a checkpoint tensor name, or nil for names that are not parameters of the
    /// language model (a classifier's `score` head is loaded by its own code).
    public static func parameterName(_ stored: String) -> String? {
        let name = stored.hasPrefix("transformer.") ? String(stored.dropFirst("transformer.".count)) : stored
        if name == "lm_head.weight" || name.hasSuffix(".attn.bias") && !name.contains("c_attn") || name.hasSuffix(".attn.masked_bias")
            || name.hasPrefix("score.") {
            return nil
        }
        return name
    }

    /// Copies every parameter of `model` from `file`, converting F16/BF16. Names and shapes are all
    /// checked first (`checkWeights`); a NaN or infinity is refused, naming the first tensor that
    /// holds one (the model's values are then partly overwritten: discard it).
    /// With a `weightFormat` other than fp32, the matrices are held in it for inference (see
    /// `InferenceWeights`; read straight from the file, as stored or converted).
    public static func loadWeights(_ file: SafeTensorsFile, into model: GPT, includeHead: Bool = true,
                                   weightFormat: WeightFormat = .fp32) throws {
        try checkWeights(file, match: model.config, classCount: model.layout.score?.classCount, includeHead: includeHead)
        try readTensors(file, into: model, includeHead: includeHead, format: weightFormat)
    }

    /// Writes `directory/config.json` and `directory/model.safetensors` that `GPT2LMHeadModel.from_pretrained` loads.
    /// A classifier's head (`score.*`) is stored beside the model's tensors, under its own names.
    /// With `dtype`, the matrices (`InferenceWeights.isMatrix`) are stored in that format (see
    /// LowPrecisionCheckpoint.swift); the model must hold fp32 weights.
    public static func save(_ model: GPT, to directory: URL, config: Data? = nil, dtype: WeightFormat = .fp32) throws {
        if let low = model.inferenceWeights { throw GPTError.inferenceOnlyWeights(format: low.format.rawValue) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(config ?? encoder.encode(model.config), to: directory.appendingPathComponent("config.json"))
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt"]
        for tensor in model.layout.tensors {
            let name = ParameterLayout.isHead(tensor.name) ? tensor.name : "transformer." + tensor.name
            try addEncoded(&writer, name, tensor, of: model, format: InferenceWeights.holds(dtype, tensor) ? dtype : .fp32)
        }
        // GPT2LMHeadModel always has a learned wpe and would fill a missing one with random values:
        // a sinusoidal model writes its table there, so Hugging Face computes what we compute.
        if let table = model.positionTable {
            let c = model.config.embeddingSize, t = model.config.contextLength
            writer.add("transformer.wpe.weight", floats: UnsafeBufferPointer(start: table, count: t * c), shape: [t, c])
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
    }
}
