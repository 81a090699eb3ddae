// A model directory in torch.nn.Transformer's own terms: config.json (Seq2SeqConfig's keys,
// model_type "transformer") and model.safetensors whose tensors carry nn.Transformer's state_dict
// names (`encoder.layers.0.self_attn.in_proj_weight` …) in torch's orientation (Linear weights
// [out, in]), plus `shared.weight` or `src_embed.weight` and `tgt_embed.weight` [V, C].
// This is the one place that renames and transposes: our layout keeps the same names but stores
// matrices [in, out] (Seq2SeqLayout). Loading checks every tensor's presence, shape and
// finiteness; saving writes the same form atomically, so a saved model loads back through here.
import Foundation
import GPTIO
import GPTKernels

public enum Seq2SeqWeights {
    /// The shape torch stores for our tensor: matrices transposed.
    public static func torchShape(_ tensor: ParameterTensor) -> [Int] {
        Seq2SeqLayout.isTransposed(tensor) ? tensor.shape.reversed() : tensor.shape
    }

    /// Reads `directory/config.json` and `directory/model.safetensors` into a new model: ours, or a
    /// Hugging Face MarianMTModel directory (model_type "marian", read by MarianWeights).
    public static func load(directory: URL, pool: ThreadPool) throws -> Seq2SeqTransformer {
        let configURL = directory.appendingPathComponent("config.json")
        if MarianWeights.isMarian(configJSON: try ConfigFile.read(configURL)) {
            return try MarianWeights.load(directory: directory, pool: pool)
        }
        let config = try loadConfig(configURL)
        let model = try Seq2SeqTransformer(config: config, pool: pool)
        let url = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missingFile(url.path) }
        try load(SafeTensorsFile(contentsOf: url), into: model)
        return model
    }

    /// Copies every tensor of `file` into `model`, transposing matrices from torch's [out, in].
    public static func load(_ file: SafeTensorsFile, into model: Seq2SeqTransformer) throws {
        for entry in file.entries where model.layout[entry.name] == nil {
            throw CheckpointError.unexpectedTensor(entry.name)
        }
        for tensor in model.layout.tensors {
            guard let entry = file[tensor.name] else { throw CheckpointError.missingTensor(tensor.name) }
            let shape = torchShape(tensor)
            guard entry.shape == shape else { throw CheckpointError.shapeMismatch(tensor: tensor.name, expected: shape, found: entry.shape) }
            let values = try file.floats(tensor.name)
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw CheckpointError.nonFiniteWeight(tensor: tensor.name, index: i, value: values[i])
            }
            let p = model.parameters + tensor.offset
            if Seq2SeqLayout.isTransposed(tensor) {
                // torch [out, in] → ours [in, out]
                let rows = tensor.shape[0], columns = tensor.shape[1]
                for i in 0..<rows { for o in 0..<columns { p[i * columns + o] = values[o * rows + i] } }
            } else {
                values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: tensor.count) }
            }
        }
    }

    /// `values` (our layout's tensor, e.g. a gradient) in torch's orientation.
    public static func torchOrder(_ values: UnsafeBufferPointer<Float>, of tensor: ParameterTensor) -> [Float] {
        guard Seq2SeqLayout.isTransposed(tensor) else { return Array(values) }
        let rows = tensor.shape[0], columns = tensor.shape[1]
        var out = [Float](repeating: 0, count: tensor.count)
        for i in 0..<rows { for o in 0..<columns { out[o * rows + i] = values[i * columns + o] } }
        return out
    }

    /// `values` in torch's orientation (e.g. a reference gradient) in our layout's: the inverse of `torchOrder`.
    public static func ourOrder(_ values: [Float], of tensor: ParameterTensor) -> [Float] {
        guard Seq2SeqLayout.isTransposed(tensor) else { return values }
        let rows = tensor.shape[0], columns = tensor.shape[1]
        var out = [Float](repeating: 0, count: tensor.count)
        for i in 0..<rows { for o in 0..<columns { out[i * columns + o] = values[o * rows + i] } }
        return out
    }

    /// Writes config.json and model.safetensors (torch's names and orientation), each atomically.
    public static func save(_ model: Seq2SeqTransformer, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var writer = SafeTensorsWriter()
        for tensor in model.layout.tensors {
            let values = torchOrder(UnsafeBufferPointer(start: model.parameters + tensor.offset, count: tensor.count), of: tensor)
            writer.add(tensor.name, floats: values, shape: torchShape(tensor))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(model.config), to: directory.appendingPathComponent("config.json"))
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
    }

    /// A checked Seq2SeqConfig from a config.json; the error names the file and what is wrong.
    public static func loadConfig(_ url: URL) throws -> Seq2SeqConfig {
        let data = try ConfigFile.read(url)
        let config = try ConfigFile.decode(Seq2SeqConfig.self, from: data, path: url.path)
        try config.validate()
        return config
    }
}
