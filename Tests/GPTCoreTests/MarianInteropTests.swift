// Our encoder–decoder as a Hugging Face MarianMTModel (MarianWeights, MarianConfigFile):
// - the mapping table is a bijection onto our layout (every parameter in exactly one Marian tensor);
// - ours → Marian directory → ours gives the same parameters bit for bit, hence the same logits
//   (always runs);
// - where python3 imports torch and transformers (Tests/scripts/marian_logits.py; once the import
//   works, a failing script fails the test): MarianMTModel.from_pretrained on our export gives our
//   logits, and our reader on a MarianMTModel that save_pretrained wrote gives transformers' logits,
//   on a padded batch with attention masks (every position), within 1e-4 of max |logit|. The two
//   compute the same sums in different orders (our GEMM vs ATen) on a permuted residual stream:
//   measured differences are below 1e-6 of the scale; 1e-4 still catches a wrong permutation, mask or table;
// - what Marian cannot hold is refused with a one-line error naming the key: final norms and pre-LN
//   on export; gelu/swish, pre-LN, final LayerNorms, unscaled embeddings, learned positions, an output
//   bias and untied tables on import.
import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels
import GPTTestSupport

final class MarianInteropTests: XCTestCase {
    /// Odd sizes: C = 20 (4 heads of 5) shared, or C = 21 (3 heads of 7: Marian's sin/cos split at ⌈C/2⌉) separate.
    static func config(share: Bool, finalNorm: Bool = false, normFirst: Bool = false) -> Seq2SeqConfig {
        Seq2SeqConfig(vocabSize: 29, modelSize: share ? 20 : 21, headCount: share ? 4 : 3, feedForwardSize: 36, encoderLayerCount: 2,
                      decoderLayerCount: 3, dropout: 0.1, maxPositions: 16, normFirst: normFirst,
                      shareEmbeddings: share, finalNorm: finalNorm, padTokenId: 0, bosTokenId: 1, eosTokenId: 2)
    }

    /// A model whose every parameter (LayerNorm gains and all biases too) is distinct and non-trivial,
    /// so a tensor copied to the wrong place or channel changes the logits.
    static func model(_ config: Seq2SeqConfig, seed: UInt64) throws -> Seq2SeqTransformer {
        let model = try Seq2SeqTransformer(config: config, pool: ThreadPool(threads: 2))
        var rng = SplitMix64(seed: seed)
        for tensor in model.layout.tensors {
            let isGain = tensor.name.contains("norm") && tensor.name.hasSuffix(".weight")
            for i in 0..<tensor.count {
                model.parameters[tensor.offset + i] = Float(rng.nextUnitInterval() * 0.8 - 0.4) + (isGain ? 1 : 0)
            }
        }
        return model
    }

    /// Sources of 7, 3 and 5 tokens and targets of 2, 6 and 4, right-padded with 0.
    static func batch() -> Seq2SeqBatch {
        var rng = SplitMix64(seed: 11)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(3 + rng.next() % 26) } }
        return Seq2SeqBatch(pairs: [(7, 2), (3, 6), (5, 4)].map { (source: tokens($0.0), target: tokens($0.1)) }, pad: 0, bos: 1, eos: 2)
    }

    func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testMappingTableCoversEveryParameterExactlyOnce() throws {
        for share in [true, false] {
            let config = Self.config(share: share)
            let layout = Seq2SeqLayout(config)
            var seen = [Int](repeating: 0, count: layout.count)
            for mapping in MarianWeights.mappings(config) {
                let tensor = try XCTUnwrap(layout[mapping.ourName], mapping.ourName)
                let columns = Seq2SeqWeights.torchShape(tensor).dropFirst().first ?? 1
                var indices: [Int] = []
                MarianWeights.forEachElement(mapping, channels: config.modelSize, ourColumns: columns) { indices.append($1) }
                XCTAssertEqual(indices.count, mapping.shape.reduce(1, *), mapping.marianName)
                // Torch-order index [row, column] → our layout's offset ([in, out] for a transposed matrix).
                let rows = Seq2SeqWeights.torchShape(tensor)[0]
                for i in indices {
                    let offset = Seq2SeqLayout.isTransposed(tensor) ? (i % columns) * rows + i / columns : i
                    seen[tensor.offset + offset] += 1
                }
            }
            XCTAssertEqual(seen.firstIndex { $0 != 1 }, nil, "share \(share): a parameter mapped \(seen.first { $0 != 1 } ?? 0) times")
        }
    }

    func testMarianRoundTripGivesIdenticalWeightsAndLogits() throws {
        for share in [true, false] {
            let original = try Self.model(Self.config(share: share), seed: share ? 1 : 2)
            let directory = try temporaryDirectory("marian-round-trip")
            try MarianWeights.save(original, to: directory)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json")))
                as? [String: Any]
            XCTAssertEqual(config?["model_type"] as? String, "marian")
            XCTAssertEqual(config?["activation_function"] as? String, "relu")
            XCTAssertEqual(config?["share_encoder_decoder_embeddings"] as? Bool, share)
            XCTAssertEqual(config?["decoder_start_token_id"] as? Int, 1)
            let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
            XCTAssertNotNil(file[share ? "model.shared.weight" : "model.decoder.embed_tokens.weight"])
            XCTAssertNotNil(file["model.decoder.layers.2.encoder_attn.v_proj.weight"])
            XCTAssertNil(file["encoder.norm.weight"])

            // Through the loader every command uses (gpt translate, gpt eval --pairs).
            let loaded = try Seq2SeqWeights.load(directory: directory, pool: ThreadPool(threads: 2))
            XCTAssertEqual(loaded.config, original.config)
            let a = Array(UnsafeBufferPointer(start: original.parameters, count: original.layout.count))
            let b = Array(UnsafeBufferPointer(start: loaded.parameters, count: loaded.layout.count))
            XCTAssertEqual(a.count, b.count)
            XCTAssertEqual(a.indices.first { a[$0].bitPattern != b[$0].bitPattern }, nil, "share \(share): a parameter changed")
            try original.forward(Self.batch())
            let before = Array(original.logits)
            try loaded.forward(Self.batch())
            XCTAssertEqual(Array(loaded.logits).map(\.bitPattern), before.map(\.bitPattern), "share \(share): logits changed")
        }
    }

    func testMarianPositionTableIsOursWithSinFirstAndCosSecond() {
        for c in [20, 21] {
            let config = Seq2SeqConfig(vocabSize: 5, modelSize: c, headCount: 1, maxPositions: 9)
            let table = MarianWeights.positionTable(config), h = (c + 1) / 2
            var worst = 0.0
            for t in 0..<9 {
                for j in 0..<c {
                    // MarianSinusoidalPositionalEmbedding.create_weight: angle t / 10000^(2(j'//2)/C) with j' = 2i.
                    let i = j < h ? j : j - h
                    let angle = Double(t) / pow(10_000, Double(2 * i) / Double(c))
                    worst = max(worst, abs(Double(table[t * c + j]) - (j < h ? sin(angle) : cos(angle))))
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-6, "C = \(c)")
        }
    }

    // MARK: transformers

    func testTransformersLoadsMarianExportAndGivesOurLogitsOnAPaddedBatch() throws {
        guard (try? python(["-c", "import torch, transformers"]).status) == 0 else {
            throw XCTSkip("python3 with torch and transformers is not installed: the MarianMTModel export not checked")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/marian_logits.py")
        let batch = Self.batch(), b = batch.batch, s = batch.sourceLength, t = batch.targetLength
        for share in [true, false] {
            let model = try Self.model(Self.config(share: share), seed: share ? 3 : 4)
            let directory = try temporaryDirectory("marian-interop")
            try MarianWeights.save(model, to: directory)
            try model.forward(batch)
            let ours = Array(model.logits), v = model.config.vocabSize

            func rows(_ tokens: [Int32], _ width: Int) -> [[Int]] { (0..<b).map { r in tokens[(r * width)..<((r + 1) * width)].map(Int.init) } }
            func mask(_ lengths: [Int32], _ width: Int) -> [[Int]] { lengths.map { n in (0..<width).map { $0 < Int(n) ? 1 : 0 } } }
            let request: [String: Any] = ["input_ids": rows(batch.source, s), "attention_mask": mask(batch.sourceLengths, s),
                                          "decoder_input_ids": rows(batch.targetInput, t),
                                          "decoder_attention_mask": mask(batch.targetLengths, t)]
            let input = directory.appendingPathComponent("batch.json"), output = directory.appendingPathComponent("logits.json")
            try JSONSerialization.data(withJSONObject: request).write(to: input)
            let run = try python([script.path, directory.path, input.path, output.path])
            XCTAssertEqual(run.status, 0, "marian_logits.py failed: \(run.errors.suffix(2_000))")
            guard run.status == 0 else { continue }
            let answer = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
            XCTAssertEqual(answer["shape"] as? [Int], [b, t, v])
            let theirs = try XCTUnwrap(answer["logits"] as? [Double])
            // Every position, padded ones included: right padding leaves each padded query at least one real key in both.
            let scale = max(1, maxAbs(theirs)), worst = maxAbsDifference(ours, theirs)  // +infinity on NaN
            XCTAssertLessThanOrEqual(worst / scale, 1e-4, "share \(share): max |logit diff| \(worst), scale \(scale)")
            print("MarianMTModel.from_pretrained (transformers \(answer["transformers"] ?? "?")) on our export, shared \(share), "
                  + "C \(model.config.modelSize): max |logit diff| \(worst) (scale \(scale))")
        }
    }

    /// The reverse direction against transformers itself: a MarianMTModel that save_pretrained wrote (relu,
    /// scaled embeddings, every parameter perturbed) loads through our reader and gives transformers' logits.
    func testOurLoaderReadsAMarianMTModelTransformersSavedAndGivesItsLogits() throws {
        guard (try? python(["-c", "import torch, transformers"]).status) == 0 else {
            throw XCTSkip("python3 with torch and transformers is not installed: reading transformers' MarianMTModel not checked")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/marian_logits.py")
        let batch = Self.batch(), b = batch.batch, s = batch.sourceLength, t = batch.targetLength
        for share in [true, false] {
            let work = try temporaryDirectory("marian-from-transformers"), directory = work.appendingPathComponent("model")
            let c = share ? 20 : 21, heads = share ? 4 : 3
            let marianConfig: [String: Any] = [
                "vocab_size": 29, "d_model": c, "encoder_layers": 2, "decoder_layers": 3, "encoder_attention_heads": heads,
                "decoder_attention_heads": heads, "encoder_ffn_dim": 36, "decoder_ffn_dim": 36, "max_position_embeddings": 16,
                "activation_function": "relu", "scale_embedding": true, "dropout": 0.1, "attention_dropout": 0.1,
                "activation_dropout": 0.1, "pad_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 1,
                "share_encoder_decoder_embeddings": share,
            ]
            func rows(_ tokens: [Int32], _ width: Int) -> [[Int]] { (0..<b).map { r in tokens[(r * width)..<((r + 1) * width)].map(Int.init) } }
            func mask(_ lengths: [Int32], _ width: Int) -> [[Int]] { lengths.map { n in (0..<width).map { $0 < Int(n) ? 1 : 0 } } }
            let request: [String: Any] = ["input_ids": rows(batch.source, s), "attention_mask": mask(batch.sourceLengths, s),
                                          "decoder_input_ids": rows(batch.targetInput, t),
                                          "decoder_attention_mask": mask(batch.targetLengths, t)]
            let input = work.appendingPathComponent("batch.json"), output = work.appendingPathComponent("logits.json")
            let configURL = work.appendingPathComponent("marian-config.json")
            try JSONSerialization.data(withJSONObject: request).write(to: input)
            try JSONSerialization.data(withJSONObject: marianConfig).write(to: configURL)
            let run = try python([script.path, directory.path, input.path, output.path, "--create", configURL.path])
            XCTAssertEqual(run.status, 0, "marian_logits.py --create failed: \(run.errors.suffix(2_000))")
            guard run.status == 0 else { continue }
            let answer = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
            let theirs = try XCTUnwrap(answer["logits"] as? [Double])

            let model = try Seq2SeqWeights.load(directory: directory, pool: ThreadPool(threads: 2))
            XCTAssertEqual(model.config.shareEmbeddings, share)
            XCTAssertFalse(model.config.finalNorm)
            XCTAssertEqual([model.config.padTokenId, model.config.bosTokenId, model.config.eosTokenId], [0, 1, 2])
            try model.forward(batch)
            let ours = Array(model.logits)
            let scale = max(1, maxAbs(theirs)), worst = maxAbsDifference(ours, theirs)  // +infinity on NaN
            XCTAssertLessThanOrEqual(worst / scale, 1e-4, "share \(share): max |logit diff| \(worst), scale \(scale)")
            print("our reader on MarianMTModel.save_pretrained, shared \(share), C \(c): max |logit diff| \(worst) (scale \(scale))")
        }
    }

    /// python3 with standard error in a file, so neither pipe can fill and block.
    func python(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("python-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        let handle = try FileHandle(forWritingTo: errors)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    // MARK: Refusals

    func testMarianExportRefusesFinalNormsAndPreLNSayingWhatToTrainWith() throws {
        let directory = try temporaryDirectory("marian-refused")
        let cases: [(Seq2SeqConfig, [String])] = [
            (Self.config(share: true, finalNorm: true), ["final_norm is true", "no LayerNorm after the encoder and decoder stacks",
                                                        "--set final_norm=false"]),
            (Self.config(share: true, normFirst: true), ["norm_first is true", "post-LN", "--set norm_first=false"]),
        ]
        for (config, words) in cases {
            let model = try Self.model(config, seed: 5)
            XCTAssertThrowsError(try MarianWeights.save(model, to: directory)) { error in
                let message = "\(error)"
                for word in words { XCTAssert(message.contains(word), message) }
                XCTAssertFalse(message.contains("\n"), message)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path))
        }
    }

    func testMarianReadRefusesWhatOurModelCannotRepresent() throws {
        let original = try Self.model(Self.config(share: true), seed: 6)
        let pool = try ThreadPool(threads: 1)
        // Config keys: each edit of an exported config.json and the words its error must hold.
        let edits: [(String, Any, String)] = [
            ("activation_function", "swish", "activation_function is \"swish\""),
            ("normalize_before", true, "normalize_before is true"),
            ("add_final_layer_norm", true, "add_final_layer_norm is true"),
            ("scale_embedding", false, "scale_embedding is false"),
            ("static_position_embeddings", false, "learned positions"),
            ("tie_word_embeddings", false, "tie_word_embeddings is false"),
            ("attention_dropout", 0.0, "attention_dropout 0.0 differs from dropout"),
            ("decoder_ffn_dim", 40, "decoder_ffn_dim 40 differs from encoder_ffn_dim 36"),
            ("pad_token_id", NSNull(), "pad_token_id is null"),
            ("d_model", "wide", "d_model"),
        ]
        for (key, value, words) in edits {
            let directory = try temporaryDirectory("marian-bad-config")
            try MarianWeights.save(original, to: directory)
            let url = directory.appendingPathComponent("config.json")
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            object[key] = value
            try JSONSerialization.data(withJSONObject: object).write(to: url)
            XCTAssertThrowsError(try Seq2SeqWeights.load(directory: directory, pool: pool), key) { error in
                XCTAssert("\(error)".contains(words), "\(key): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "\(error)")
            }
        }
        // Tensors: an output bias, an untied lm_head, learned positions, a stray tensor, a missing one.
        let c = original.config.modelSize, v = original.config.vocabSize, p = original.config.maxPositions
        let extras: [(String, [Float]?, [Int], String)] = [
            ("final_logits_bias", (0..<v).map { $0 == 3 ? 0.5 : 0 }, [1, v], "final_logits_bias[3] is 0.5"),
            ("lm_head.weight", [Float](repeating: 0.25, count: v * c), [v, c], "lm_head.weight differs from model.shared.weight"),
            ("model.encoder.embed_positions.weight", [Float](repeating: 0, count: p * c), [p, c], "differs from Marian's sinusoids"),
            ("model.encoder.layernorm_embedding.weight", [Float](repeating: 1, count: c), [c], "is not part of this model"),
            ("model.decoder.layers.0.fc1.bias", nil, [], "no tensor 'model.decoder.layers.0.fc1.bias'"),
        ]
        for (name, values, shape, words) in extras {
            let directory = try temporaryDirectory("marian-bad-tensor")
            try MarianWeights.save(original, to: directory)
            let url = directory.appendingPathComponent("model.safetensors")
            let file = try SafeTensorsFile(contentsOf: url)
            var writer = SafeTensorsWriter()
            for entry in file.entries where entry.name != name { writer.add(entry.name, floats: try file.floats(entry.name), shape: entry.shape) }
            if let values { writer.add(name, floats: values, shape: shape) }
            try writer.write(to: url)
            XCTAssertThrowsError(try Seq2SeqWeights.load(directory: directory, pool: pool), name) { error in
                XCTAssert("\(error)".contains(words), "\(name): \(error)")
            }
        }
        // What transformers may write beside the table loads when it says nothing new: Marian's own sinusoids, a zero bias.
        let directory = try temporaryDirectory("marian-extras")
        try MarianWeights.save(original, to: directory)
        let url = directory.appendingPathComponent("model.safetensors")
        let file = try SafeTensorsFile(contentsOf: url)
        var writer = SafeTensorsWriter()
        for entry in file.entries { writer.add(entry.name, floats: try file.floats(entry.name), shape: entry.shape) }
        writer.add("model.decoder.embed_positions.weight", floats: MarianWeights.positionTable(original.config), shape: [p, c])
        writer.add("lm_head.weight", floats: try file.floats("model.shared.weight"), shape: [v, c])
        try writer.write(to: url)
        XCTAssertNoThrow(try Seq2SeqWeights.load(directory: directory, pool: pool))
    }
}
