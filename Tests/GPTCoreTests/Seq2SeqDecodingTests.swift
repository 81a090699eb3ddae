// Incremental decoding of the encoder–decoder Transformer against its own teacher-forced forward
// pass (which the parity test ties to PyTorch): a step's logits must equal the full forward's at
// the same position, for a padded batch and for beams sharing a source, across a reorder. Also:
// bad input gets an error that names it, config.json round trips, a saved model loads back.
//
// Tolerance of the cached path: |step − full| ≤ 1e-4 · max |full logits|. The two paths may sum in
// different orders (CachedAttention over a cache vs MaskedAttention over the whole sequence; a
// one-row GEMM vs a blocked one); today both keep one order per row and the measured difference
// is 0, but a faster kernel may reorder its sums, and 1e-4 still catches a wrong position or mask.
import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels

final class Seq2SeqDecodingTests: XCTestCase {
    static func config(normFirst: Bool, share: Bool = true, finalNorm: Bool = true) -> Seq2SeqConfig {
        Seq2SeqConfig(vocabSize: 23, modelSize: 24, headCount: 3, feedForwardSize: 40, encoderLayerCount: 2,
                      decoderLayerCount: 2, dropout: 0, maxPositions: 12, normFirst: normFirst, shareEmbeddings: share,
                      finalNorm: finalNorm)
    }

    static func tokens(_ rng: inout SplitMix64, _ n: Int) -> [Int32] { (0..<n).map { _ in Int32(3 + rng.next() % 20) } }

    /// Worst |a − b| over the elements, relative to max |b|; NaN on either side is infinite.
    static func relativeDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        let scale = b.map { Double(abs($0)) }.max() ?? 0
        var worst = 0.0
        for (x, y) in zip(a, b) {
            guard x.isFinite, y.isFinite else { return .infinity }
            worst = max(worst, abs(Double(x) - Double(y)))
        }
        return worst / max(scale, 1e-30)
    }

    func testCachedStepsEqualTeacherForcedLogitsOnAPaddedBatch() throws {
        let pool = try ThreadPool(threads: 2)
        for (normFirst, finalNorm) in [(false, true), (true, true), (false, false)] {
            let model = try Seq2SeqTransformer(config: Self.config(normFirst: normFirst, share: normFirst, finalNorm: finalNorm),
                                               seed: 5, pool: pool)
            var rng = SplitMix64(seed: 9)
            let pairs = [(5, 3), (2, 6), (7, 1)].map { (source: Self.tokens(&rng, $0.0), target: Self.tokens(&rng, $0.1)) }
            let batch = Seq2SeqBatch(pairs: pairs, pad: 0, bos: 1, eos: 2)
            try model.forward(batch)
            let full = Array(model.logits), v = 23, t = batch.targetLength
            let memory = try model.encode(sources: pairs.map(\.source))
            let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: [0, 1, 2], maxLength: t)
            var worst = 0.0
            for i in 0..<t {
                let step = Array(try decoder.step(tokens: (0..<3).map { batch.targetInput[$0 * t + i] }))
                for b in 0..<3 where i < Int(batch.targetLengths[b]) {
                    let d = Self.relativeDifference(step[(b * v)..<((b + 1) * v)], full[((b * t + i) * v)..<((b * t + i + 1) * v)])
                    XCTAssertLessThanOrEqual(d, 1e-4, "normFirst \(normFirst) finalNorm \(finalNorm): row \(b) position \(i)")
                    worst = max(worst, d)
                }
            }
            print("cached decoding (normFirst \(normFirst), finalNorm \(finalNorm)): worst relative difference from the full forward \(worst)")
            XCTAssertThrowsError(try decoder.step(tokens: [1, 1, 1])) { XCTAssert("\($0)".contains("exceeds"), "\($0)") }
        }
    }

    func testBeamsSharingASourceMatchTheFullForwardAcrossAReorder() throws {
        let pool = try ThreadPool(threads: 2)
        let model = try Seq2SeqTransformer(config: Self.config(normFirst: false), seed: 6, pool: pool)
        var rng = SplitMix64(seed: 10)
        let sources = [Self.tokens(&rng, 6), Self.tokens(&rng, 3)]
        let memory = try model.encode(sources: sources)
        var rowSource = [0, 0, 0, 1, 1]
        let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: rowSource, maxLength: 6)
        var histories = [[Int32]](repeating: [], count: 5)
        // Reorders that keep 5 rows, shrink to 2 (several children of one parent) and grow back to 4.
        let reorders = [3: [2, 0, 0, 4, 3], 4: [1, 3], 5: [0, 1, 1, 0]]
        for step in 0..<6 {
            if let parents = reorders[step] {
                try decoder.reorder(parents)
                histories = parents.map { histories[$0] }
                rowSource = parents.map { rowSource[$0] }
                XCTAssertEqual(decoder.sources, rowSource)
            }
            let m = rowSource.count
            let tokens = step == 0 ? [Int32](repeating: 1, count: m) : Self.tokens(&rng, m)
            for r in 0..<m { histories[r].append(tokens[r]) }
            let logits = Array(try decoder.step(tokens: tokens))
            XCTAssertEqual(logits.count, m * 23)
            // The same rows teacher-forced from scratch: source of the row, its whole history.
            let n = step + 1, s = sources.map(\.count).max()!
            let batch = Seq2SeqBatch(batch: m, sourceLength: s, targetLength: n,
                                     source: rowSource.flatMap { sources[$0] + [Int32](repeating: 0, count: s - sources[$0].count) },
                                     sourceLengths: rowSource.map { Int32(sources[$0].count) },
                                     targetInput: histories.flatMap { $0 }, targets: [],
                                     targetLengths: [Int32](repeating: Int32(n), count: m))
            try model.forward(batch)
            let full = Array(model.logits), v = 23
            for r in 0..<m {
                let d = Self.relativeDifference(logits[(r * v)..<((r + 1) * v)], full[((r * n + n - 1) * v)..<((r * n + n) * v)])
                XCTAssertLessThanOrEqual(d, 1e-4, "row \(r) (source \(rowSource[r])) at step \(step)")
            }
        }
    }

    func testBadInputGetsAnErrorNamingIt() throws {
        let pool = try ThreadPool(threads: 1)
        let model = try Seq2SeqTransformer(config: Self.config(normFirst: false), seed: 1, pool: pool)
        let good = Seq2SeqBatch(pairs: [(source: [3, 4], target: [5])], pad: 0, bos: 1, eos: 2)
        func message(_ batch: Seq2SeqBatch) -> String {
            do { try model.forward(batch); return "no error" } catch { return "\(error)" }
        }
        var b = good; b.source[1] = 23
        XCTAssert(message(b).contains("token 23 at position 1 is outside the vocabulary"), message(b))
        b = good; b.targets[0] = 99
        XCTAssert(message(b).contains("token 99"), message(b))
        b = good; b.sourceLengths = [3]
        XCTAssert(message(b).contains("source length 3 of row 0 is outside 0...2"), message(b))
        b = good; b.targetInput = [1]
        XCTAssert(message(b).contains("target input: expected 2 values, got 1"), message(b))
        let long = Seq2SeqBatch(pairs: [(source: [Int32](repeating: 3, count: 13), target: [5])], pad: 0, bos: 1, eos: 2)
        XCTAssert(message(long).contains("source of 13 tokens exceeds the model's max_position_embeddings 12"), message(long))
        XCTAssertThrowsError(try model.encode(sources: [[3], []])) { XCTAssert("\($0)".contains("source length 0 of row 1"), "\($0)") }
        let memory = try model.encode(sources: [[3, 4]])
        XCTAssertThrowsError(try Seq2SeqDecoder(model: model, memory: memory, sources: [0, 1], maxLength: 4)) {
            XCTAssert("\($0)".contains("source index of row 1"), "\($0)")
        }
        let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: [0, 0, 0], maxLength: 4)
        try decoder.reorder([0, 0])
        XCTAssertThrowsError(try decoder.reorder([2])) { XCTAssert("\($0)".contains("parent of row 0 (below the live rows)"), "\($0)") }
        XCTAssertThrowsError(try decoder.reorder([0, 0, 0, 0])) { XCTAssert("\($0)".contains("parents (1 to the decoder's rows)"), "\($0)") }
        XCTAssertThrowsError(try decoder.step(tokens: [1, 1, 1])) { XCTAssert("\($0)".contains("decoder step tokens: expected 2"), "\($0)") }
        XCTAssertThrowsError(try model.backward()) { XCTAssert("\($0)".contains("backward()"), "\($0)") }

        // Sizes are range-checked before anything is multiplied, and memory before anything is allocated.
        var config = Self.config(normFirst: false)
        config.headCount = 5
        XCTAssertThrowsError(try Seq2SeqTransformer(config: config, pool: pool)) {
            XCTAssertEqual("\($0)", "invalid config: d_model = 24: must be divisible by n_head (5)")
        }
        config = Self.config(normFirst: false); config.eosTokenId = 23
        XCTAssertThrowsError(try config.validate()) { XCTAssert("\($0)".contains("eos_token_id = 23"), "\($0)") }
        config = Seq2SeqConfig(vocabSize: 16_000_000, modelSize: 65_536, headCount: 1, feedForwardSize: 1_000_000,
                               encoderLayerCount: 1_024, decoderLayerCount: 1_024, maxPositions: 1_048_576)
        XCTAssertThrowsError(try Seq2SeqTransformer(config: config, pool: pool)) {
            XCTAssert($0 is MemoryError, "\($0)")
        }
    }

    func testSavedModelLoadsBackAndBadCheckpointsAreRefusedByName() throws {
        let pool = try ThreadPool(threads: 2)
        let model = try Seq2SeqTransformer(config: Self.config(normFirst: true, share: false), seed: 3, pool: pool)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seq2seq-save-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Seq2SeqWeights.save(model, to: directory)
        let loaded = try Seq2SeqWeights.load(directory: directory, pool: pool)
        XCTAssertEqual(loaded.config, model.config)
        for share in [false, true] {
            let config = Self.config(normFirst: false, share: share)
            XCTAssertEqual(try config.parameterCount(), Seq2SeqLayout(config).count, "parameterCount, share \(share)")
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: loaded.parameters, count: loaded.layout.count)),
                       Array(UnsafeBufferPointer(start: model.parameters, count: model.layout.count)))
        // torch's orientation on disk: in_proj_weight [3C, C].
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(file["decoder.layers.1.multihead_attn.in_proj_weight"]?.shape, [72, 24])
        XCTAssertEqual(file["encoder.layers.0.linear1.weight"]?.shape, [40, 24])
        XCTAssertNotNil(file["tgt_embed.weight"])

        // A checkpoint missing a tensor, with one of torch's shape (not ours), or with a NaN is refused by name.
        let weights = directory.appendingPathComponent("model.safetensors")
        func rewritten(_ change: (ParameterTensor, inout [Float], inout [Int]) -> Bool) throws -> String {
            var writer = SafeTensorsWriter()
            for t in model.layout.tensors {
                var values = try file.floats(t.name), shape = file[t.name]!.shape
                if change(t, &values, &shape) { writer.add(t.name, floats: values, shape: shape) }
            }
            try writer.write(to: weights)
            do { _ = try Seq2SeqWeights.load(directory: directory, pool: pool); return "loaded" } catch { return "\(error)" }
        }
        let linear = "encoder.layers.0.linear1.weight"
        XCTAssertEqual(try rewritten { t, _, _ in t.name != linear }, "checkpoint has no tensor '\(linear)'")
        XCTAssertEqual(try rewritten { t, _, shape in if t.name == linear { shape = [24, 40] }; return true },
                       "tensor '\(linear)' has shape [24, 40] in the checkpoint, but the config needs [40, 24]")
        XCTAssert(try rewritten { t, values, _ in if t.name == linear { values[3] = .nan }; return true }
                    .contains("'\(linear)' holds nan at index 3"))

        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["model_type"] as? String, "transformer")
        config["model_type"] = "gpt2"
        try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try Seq2SeqWeights.load(directory: directory, pool: pool)) {
            XCTAssert("\($0)".contains("model_type = gpt2"), "\($0)")
        }
    }

    /// A few AdamW steps with dropout on a tiny copy task lower the loss, and the same seed gives
    /// the same losses (dropout masks are a function of seed, pass and site).
    func testTrainingWithDropoutLowersTheLossReproducibly() throws {
        let pool = try ThreadPool(threads: 2)
        var config = Self.config(normFirst: false)
        config.dropout = 0.1
        func run() throws -> [Float] {
            let model = try Seq2SeqTransformer(config: config, seed: 11, pool: pool)
            model.isTraining = true
            model.dropoutSeed = 4
            var rng = SplitMix64(seed: 12)
            let pairs = (0..<4).map { _ -> (source: [Int32], target: [Int32]) in
                let s = Self.tokens(&rng, 5); return (s, s)
            }
            let batch = Seq2SeqBatch(pairs: pairs, pad: 0, bos: 1, eos: 2)
            let optimizer = AdamW(count: model.layout.count, hyper: AdamWHyperparameters(beta1: 0.9, beta2: 0.98, eps: 1e-9, weightDecay: 0))
            var losses: [Float] = []
            for _ in 0..<30 {
                model.zeroGradients()
                losses.append(try XCTUnwrap(try model.forward(batch)))
                try model.backward()
                model.step(optimizer, learningRate: 3e-3)
            }
            return losses
        }
        let first = try run(), second = try run()
        XCTAssertEqual(first, second, "the same seed must give the same losses")
        XCTAssertLessThan(first.last!, 0.5 * first.first!, "losses \(first)")
    }
}
