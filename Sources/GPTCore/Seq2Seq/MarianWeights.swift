// Our encoder–decoder as a Hugging Face MarianMTModel directory, and such a directory back into it:
// config.json (MarianConfigFile) and model.safetensors in the names, shapes and orientation that
// MarianMTModel.save_pretrained writes (transformers/models/marian/modeling_marian.py).
//
// The correspondence is one table (`mappings`), read in one direction to write and in the other to
// read; each Marian tensor's elements are a fixed set of elements of one of our tensors in torch's
// orientation (Seq2SeqWeights.torchOrder, Linear weights [out, in]):
//
//   ours (nn.Transformer)                     Marian
//   shared.weight | src_embed / tgt_embed     model.shared.weight | model.{encoder,decoder}.embed_tokens.weight
//   *.self_attn.in_proj_weight [3C, C]        *.self_attn.{q,k,v}_proj.weight [C, C] (row blocks q, k, v)
//   *.multihead_attn.*                        *.encoder_attn.*
//   *.linear1 / *.linear2                     *.fc1 / *.fc2
//   encoder norm1, norm2                      self_attn_layer_norm, final_layer_norm
//   decoder norm1, norm2, norm3               self_attn_layer_norm, encoder_attn_layer_norm, final_layer_norm
//   (tied output projection)                  final_logits_bias [1, V] = 0; lm_head tied, not stored
//
// Positions. Both use the sinusoidal table of "Attention Is All You Need", but ours interleaves
// (channel 2i sin, 2i+1 cos, the PyTorch tutorial's) while Marian puts every sin first and every cos
// after (MarianSinusoidalPositionalEmbedding: channel i sin, h + i cos, h = ⌈C/2⌉). The two models are
// the same function up to a permutation of the residual stream's channels, ours 2i → i and
// 2i+1 → h + i: applied to every dimension that is the residual stream (the embedding tables' columns,
// LayerNorm gains and biases, the input columns of q/k/v/fc1, the output rows and biases of
// out_proj/fc2), and LayerNorm being permutation-equivariant, every logit is unchanged. Heads are
// untouched: q/k/v's output rows and out_proj's input columns keep their order.
// transformers computes the table at load (embed_positions is in _keys_to_ignore_on_save), so it is
// not written; a file that carries one must hold Marian's sinusoids, or it is refused.
import Foundation
import GPTIO
import GPTKernels

public enum MarianWeights {
    /// One Marian tensor and the elements of our tensor (in torch's orientation) it holds.
    public struct Mapping: Equatable, Sendable {
        public var marianName: String
        public var ourName: String
        /// Marian's shape: [out, in] for a matrix, [n] for a vector.
        public var shape: [Int]
        /// The first row of our tensor (torch orientation) this one holds: q, k and v are row blocks of in_proj.
        public var rowOffset = 0
        /// Whether rows (a vector's elements) / columns are residual-stream channels, in Marian's order.
        public var permutedRows = false, permutedColumns = false
    }

    /// Every tensor of the Marian state dict that holds parameters, from `config`'s layout.
    public static func mappings(_ config: Seq2SeqConfig) -> [Mapping] {
        let c = config.modelSize, f = config.feedForwardSize, v = config.vocabSize
        var table: [Mapping] = []
        if config.shareEmbeddings {
            table.append(Mapping(marianName: "model.shared.weight", ourName: "shared.weight", shape: [v, c], permutedColumns: true))
        } else {
            table.append(Mapping(marianName: "model.encoder.embed_tokens.weight", ourName: "src_embed.weight", shape: [v, c],
                                 permutedColumns: true))
            table.append(Mapping(marianName: "model.decoder.embed_tokens.weight", ourName: "tgt_embed.weight", shape: [v, c],
                                 permutedColumns: true))
        }
        func attention(_ ours: String, _ marian: String) {
            for (i, part) in ["q", "k", "v"].enumerated() {
                table.append(Mapping(marianName: marian + "\(part)_proj.weight", ourName: ours + "in_proj_weight", shape: [c, c],
                                     rowOffset: i * c, permutedColumns: true))
                table.append(Mapping(marianName: marian + "\(part)_proj.bias", ourName: ours + "in_proj_bias", shape: [c],
                                     rowOffset: i * c))
            }
            table.append(Mapping(marianName: marian + "out_proj.weight", ourName: ours + "out_proj.weight", shape: [c, c],
                                 permutedRows: true))
            table.append(Mapping(marianName: marian + "out_proj.bias", ourName: ours + "out_proj.bias", shape: [c], permutedRows: true))
        }
        func norm(_ ours: String, _ marian: String) {
            for suffix in [".weight", ".bias"] {
                table.append(Mapping(marianName: marian + suffix, ourName: ours + suffix, shape: [c], permutedRows: true))
            }
        }
        func layer(_ ours: String, _ marian: String, decoder: Bool) {
            attention(ours + "self_attn.", marian + "self_attn.")
            norm(ours + "norm1", marian + "self_attn_layer_norm")
            if decoder {
                attention(ours + "multihead_attn.", marian + "encoder_attn.")
                norm(ours + "norm2", marian + "encoder_attn_layer_norm")
            }
            table.append(Mapping(marianName: marian + "fc1.weight", ourName: ours + "linear1.weight", shape: [f, c], permutedColumns: true))
            table.append(Mapping(marianName: marian + "fc1.bias", ourName: ours + "linear1.bias", shape: [f]))
            table.append(Mapping(marianName: marian + "fc2.weight", ourName: ours + "linear2.weight", shape: [c, f], permutedRows: true))
            table.append(Mapping(marianName: marian + "fc2.bias", ourName: ours + "linear2.bias", shape: [c], permutedRows: true))
            norm(ours + (decoder ? "norm3" : "norm2"), marian + "final_layer_norm")
        }
        for i in 0..<config.encoderLayerCount { layer("encoder.layers.\(i).", "model.encoder.layers.\(i).", decoder: false) }
        for i in 0..<config.decoderLayerCount { layer("decoder.layers.\(i).", "model.decoder.layers.\(i).", decoder: true) }
        return table
    }

    /// Our residual channel at Marian's channel `j` of `c`: the inverse of ours 2i → i, 2i+1 → h + i.
    @inline(__always)
    public static func ourChannel(_ j: Int, channels c: Int) -> Int {
        let h = (c + 1) / 2
        return j < h ? 2 * j : 2 * (j - h) + 1
    }

    /// Calls `body(marianIndex, ourIndex)` for every element of `mapping`; `ourColumns` is the width of
    /// our tensor in torch's orientation (1 for a vector). The one correspondence both directions use.
    public static func forEachElement(_ mapping: Mapping, channels c: Int, ourColumns: Int, _ body: (Int, Int) -> Void) {
        let rows = mapping.shape[0], columns = mapping.shape.count == 2 ? mapping.shape[1] : 1
        for r in 0..<rows {
            let ourRow = mapping.rowOffset + (mapping.permutedRows ? ourChannel(r, channels: c) : r)
            for col in 0..<columns {
                let ourColumn = mapping.permutedColumns ? ourChannel(col, channels: c) : col
                body(r * columns + col, ourRow * ourColumns + ourColumn)
            }
        }
    }

    /// Marian's position table [P, C]: ours with its channels in Marian's order.
    public static func positionTable(_ config: Seq2SeqConfig) -> [Float] {
        let c = config.modelSize, p = config.maxPositions
        var ours = [Float](repeating: 0, count: p * c), marian = ours
        ours.withUnsafeMutableBufferPointer { Embedding.sinusoidalTable($0.baseAddress!, positions: p, channels: c) }
        for t in 0..<p { for j in 0..<c { marian[t * c + j] = ours[t * c + ourChannel(j, channels: c)] } }
        return marian
    }

    // MARK: Writing

    /// Writes `directory/config.json` and `directory/model.safetensors` that MarianMTModel.from_pretrained
    /// loads, each atomically; refuses (MarianExportError) a model Marian cannot represent.
    public static func save(_ model: Seq2SeqTransformer, to directory: URL) throws {
        let marianConfig = try MarianConfigFile(model.config)
        let config = model.config
        var torch: [String: [Float]] = [:]
        for tensor in model.layout.tensors {
            torch[tensor.name] = Seq2SeqWeights.torchOrder(
                UnsafeBufferPointer(start: model.parameters + tensor.offset, count: tensor.count), of: tensor)
        }
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt"]
        for mapping in mappings(config) {
            guard let tensor = model.layout[mapping.ourName], let source = torch[mapping.ourName] else {
                fatalError("MarianWeights.mappings names \(mapping.ourName), which the layout does not hold")
            }
            var values = [Float](repeating: 0, count: mapping.shape.reduce(1, *))
            forEachElement(mapping, channels: config.modelSize, ourColumns: Seq2SeqWeights.torchShape(tensor).dropFirst().first ?? 1) {
                values[$0] = source[$1]
            }
            writer.add(mapping.marianName, floats: values, shape: mapping.shape)
        }
        writer.add("final_logits_bias", floats: [Float](repeating: 0, count: config.vocabSize), shape: [1, config.vocabSize])
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(marianConfig), to: directory.appendingPathComponent("config.json"))
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
    }

    // MARK: Reading

    /// Whether `data` (a config.json) says model_type "marian".
    public static func isMarian(configJSON data: Data) -> Bool {
        (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["model_type"] as? String == MarianConfigFile.modelType
    }

    /// Our config for the Marian config.json at `url`; refuses one we cannot represent, naming the key.
    public static func loadConfig(_ url: URL) throws -> Seq2SeqConfig {
        let data = try ConfigFile.read(url)
        return try ConfigFile.decode(MarianConfigFile.self, from: data, path: url.path).seq2seqConfig(path: url.path)
    }

    /// Reads a MarianMTModel directory (config.json and model.safetensors) into a new model.
    public static func load(directory: URL, pool: ThreadPool) throws -> Seq2SeqTransformer {
        let config = try loadConfig(directory.appendingPathComponent("config.json"))
        let url = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missingFile(url.path) }
        let file = try SafeTensorsFile(contentsOf: url)
        let model = try Seq2SeqTransformer(config: config, pool: pool)
        try load(file, into: model)
        return model
    }

    /// Copies every parameter of `model` from a Marian state dict. Every tensor's name and shape is
    /// checked first; values must be finite. Tensors Marian may carry beyond the table are accepted
    /// only when they say nothing new: final_logits_bias all zero, lm_head.weight (and, when shared,
    /// the encoder's and decoder's embed_tokens) equal to the table they are tied to, embed_positions
    /// equal to Marian's sinusoids.
    public static func load(_ file: SafeTensorsFile, into model: Seq2SeqTransformer) throws {
        let config = model.config, c = config.modelSize, v = config.vocabSize
        let table = mappings(config)
        let outputTable = config.shareEmbeddings ? "model.shared.weight" : "model.decoder.embed_tokens.weight"
        var copies: [String: (of: String, shape: [Int])] = [
            "lm_head.weight": (outputTable, [v, c]),
            "final_logits_bias": ("", [1, v]),
            "model.encoder.embed_positions.weight": ("", [config.maxPositions, c]),
            "model.decoder.embed_positions.weight": ("", [config.maxPositions, c]),
        ]
        if config.shareEmbeddings {
            copies["model.encoder.embed_tokens.weight"] = (outputTable, [v, c])
            copies["model.decoder.embed_tokens.weight"] = (outputTable, [v, c])
        }
        let byName = Dictionary(uniqueKeysWithValues: table.map { ($0.marianName, $0) })
        for entry in file.entries {
            let expected: [Int]
            if let mapping = byName[entry.name] { expected = mapping.shape } else if let copy = copies[entry.name] {
                expected = copy.shape
            } else {
                throw CheckpointError.unexpectedTensor(entry.name)
            }
            guard entry.shape == expected else {
                throw CheckpointError.shapeMismatch(tensor: entry.name, expected: expected, found: entry.shape)
            }
        }
        func finite(_ name: String) throws -> [Float] {
            let values = try file.floats(name)
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw CheckpointError.nonFiniteWeight(tensor: name, index: i, value: values[i])
            }
            return values
        }
        var torch: [String: [Float]] = [:]
        for tensor in model.layout.tensors { torch[tensor.name] = [Float](repeating: 0, count: tensor.count) }
        for mapping in table {
            guard file[mapping.marianName] != nil else { throw CheckpointError.missingTensor(mapping.marianName) }
            guard let tensor = model.layout[mapping.ourName] else {
                fatalError("MarianWeights.mappings names \(mapping.ourName), which the layout does not hold")
            }
            let values = try finite(mapping.marianName)
            var target = torch.removeValue(forKey: mapping.ourName)!
            forEachElement(mapping, channels: c, ourColumns: Seq2SeqWeights.torchShape(tensor).dropFirst().first ?? 1) {
                target[$1] = values[$0]
            }
            torch[mapping.ourName] = target
        }
        for (name, copy) in copies.sorted(by: { $0.key < $1.key }) where file[name] != nil {
            let values = try finite(name)
            if name == "final_logits_bias" {
                if let i = values.firstIndex(where: { $0 != 0 }) {
                    throw CheckpointError.invalidConfig(path: "model.safetensors", reason: "final_logits_bias[\(i)] is \(values[i]); "
                                                        + "ours has no output bias, so only an all-zero one can be read")
                }
            } else if name.hasSuffix("embed_positions.weight") {
                let sinusoids = positionTable(config)
                if let i = values.indices.first(where: { abs(values[$0] - sinusoids[$0]) > 1e-5 }) {
                    throw CheckpointError.invalidConfig(path: "model.safetensors", reason: "\(name) differs from Marian's sinusoids "
                                                        + "at [\(i / c), \(i % c)] (learned positions?); ours are sinusoidal")
                }
            } else if values != (try file.floats(copy.of)) {
                throw CheckpointError.invalidConfig(path: "model.safetensors", reason: "\(name) differs from \(copy.of); "
                                                    + "ours ties them, so untied tables cannot be read")
            }
        }
        for tensor in model.layout.tensors {
            let ours = Seq2SeqWeights.ourOrder(torch[tensor.name]!, of: tensor)
            ours.withUnsafeBufferPointer { (model.parameters + tensor.offset).update(from: $0.baseAddress!, count: tensor.count) }
        }
    }
}
