// fp32 → bf16 / f16 / q8_0 checkpoint → load → logits: the model that reads its matrices in
// a lower precision computes what an fp32 model holding the same (dequantized) weights
// computes, and stays near the fp32 original; bad q8_0 files are refused by name.
import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels
import GPTTestSupport

final class LowPrecisionCheckpointTests: XCTestCase {
    // C = 64: every matrix's reduction dimension (64, 256) is whole q8_0 blocks.
    let config = GPTConfig(vocabSize: 97, contextLength: 32, embeddingSize: 64, layerCount: 2, headCount: 4)
    let formats: [WeightFormat] = [.bf16, .f16, .q8_0]

    func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("lowprec-\(UUID().uuidString)")
    }

    func tokens(_ count: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(rng.next() % 97) }
    }

    func logits(_ model: GPT, _ tokens: [Int32]) throws -> [Float] {
        try model.forward(tokens: tokens, targets: nil, batch: 2, seq: tokens.count / 2)
        return Array(model.logits)
    }

    /// Prefill of 5, then one token at a time through the KV cache: the logits of every step, concatenated.
    func cachedLogits(_ model: GPT, _ tokens: [Int32]) throws -> [Float] {
        let session = try InferenceSession(model: model, batch: 1)
        var out = Array(try session.append(Array(tokens[0..<5]), count: 5))
        for t in tokens[5...] { out += try session.append([t], count: 1) }
        return out
    }

    func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        maxAbsDifference(a, b) / max(1, maxAbs(b))  // +infinity on any NaN or infinity
    }

    func testRoundTripThroughEachDtypeGivesTheLogitsOfItsDequantizedWeights() throws {
        let pool = try ThreadPool(threads: 2)
        let original = try GPT(config: config, seed: 11, pool: pool)
        let batch = tokens(2 * 32, seed: 1), sequence = tokens(20, seed: 2)
        let fp32Logits = try logits(original, batch)
        // How far each format may move the logits of this model from fp32's (measured: bf16 ~3e-3,
        // f16 ~4e-4, q8_0 ~3e-3 of the logits' scale), with room for other seeds.
        let quantizationBound: [WeightFormat: Double] = [.bf16: 2e-2, .f16: 3e-3, .q8_0: 2e-2]
        for format in formats {
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            try HuggingFaceGPT2.save(original, to: directory, dtype: format)
            let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(HuggingFaceGPT2.storedWeightFormat(file), format)

            let low = try HuggingFaceGPT2.load(directory: directory, pool: pool, weightFormat: nil)  // as stored
            XCTAssertEqual(low.inferenceWeights?.format, format)
            let upcast = try HuggingFaceGPT2.load(directory: directory, pool: pool)  // fp32, for training
            XCTAssertNil(upcast.inferenceWeights)

            // Same weights, only the summation order differs: fp32 rounding only.
            let lowLogits = try logits(low, batch), upcastLogits = try logits(upcast, batch)
            XCTAssertLessThanOrEqual(relativeDifference(lowLogits, upcastLogits), 1e-5, "\(format) forward vs upcast")
            XCTAssertLessThanOrEqual(relativeDifference(try cachedLogits(low, sequence), try cachedLogits(upcast, sequence)), 1e-5,
                                     "\(format) cached decoding vs upcast")
            let moved = relativeDifference(lowLogits, fp32Logits)
            XCTAssertLessThanOrEqual(moved, quantizationBound[format]!, "\(format) vs the fp32 original")
            XCTAssertGreaterThan(moved, 0, "\(format) really rounded the weights")
            print("\(format.rawValue) round trip: max |logit diff| vs fp32 \(moved) of scale")

            // Converting in memory gives the same matrices as the file: identical logits.
            let converted = try GPT(config: config, seed: 11, pool: pool)
            try converted.useWeights(format)
            XCTAssertEqual(try logits(converted, batch).map(\.bitPattern), lowLogits.map(\.bitPattern), "\(format) useWeights vs file")

            // A low-precision model is for inference: training and saving it are refused.
            try low.forward(tokens: batch, targets: batch, batch: 2, seq: 32)
            XCTAssertThrowsError(try low.backward()) { XCTAssertEqual("\($0)", "the model holds \(format.rawValue) weights for inference: train or convert from fp32 weights") }
        }
    }

    /// Each dtype can be read as any other (q8_0 dequantized, then rounded again).
    func testAStoredDtypeLoadsIntoEveryFormat() throws {
        let pool = try ThreadPool(threads: 1)
        let original = try GPT(config: config, seed: 12, pool: pool)
        let batch = tokens(2 * 8, seed: 3)
        for stored in formats {
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            try HuggingFaceGPT2.save(original, to: directory, dtype: stored)
            for format in WeightFormat.allCases {
                let model = try HuggingFaceGPT2.load(directory: directory, pool: pool, weightFormat: format)
                XCTAssertLessThanOrEqual(relativeDifference(try logits(model, batch), try logits(original, batch)), 3e-2,
                                         "\(stored) read as \(format)")
            }
        }
    }

    func testMismatchedQ8LayoutIsRefusedByName() throws {
        let pool = try ThreadPool(threads: 1)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceGPT2.save(try GPT(config: config, seed: 13, pool: pool), to: directory, dtype: .q8_0)
        let url = directory.appendingPathComponent("model.safetensors")
        let good = try SafeTensorsFile(contentsOf: url)
        let name = "transformer.h.1.mlp.c_fc.weight"

        /// Rewrites the file with `change` applied to each (name, dtype, shape, bytes) and `metadata`.
        func rewrite(metadata: [String: String], _ change: (inout String, inout SafeTensorsDType, inout [Int], inout [UInt8]) -> Bool) throws {
            var writer = SafeTensorsWriter()
            writer.metadata = metadata
            for entry in good.entries {
                var (n, d, s) = (entry.name, entry.dtype, entry.shape)
                var bytes = try good.withUnsafeRawBytes(of: entry.name) { Array($0) }
                guard change(&n, &d, &s, &bytes) else { continue }
                bytes.withUnsafeBytes { writer.add(n, bytes: $0, dtype: d, shape: s) }
            }
            try writer.write(to: url)
        }
        func expectRefusal(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: pool, weightFormat: nil), file: file, line: line) {
                XCTAssertEqual("\($0)", expected, file: file, line: line)
            }
        }
        let keep: (inout String, inout SafeTensorsDType, inout [Int], inout [UInt8]) -> Bool = { _, _, _, _ in true }

        try rewrite(metadata: ["format": "pt", Q8Storage.blockSizeKey: "64"], keep)
        expectRefusal("checkpoint tensor '\(firstQ8Base(good))' is not valid q8_0: the file's metadata gives q8_0_block_size = '64'; only 32 is read")
        try rewrite(metadata: ["format": "pt"], keep)
        expectRefusal("checkpoint tensor '\(firstQ8Base(good))' is not valid q8_0: the file's metadata gives q8_0_block_size = nothing; only 32 is read")
        let meta = ["format": "pt", Q8Storage.blockSizeKey: "32"]
        try rewrite(metadata: meta) { n, _, _, _ in n != name + Q8Storage.scaleSuffix }
        expectRefusal("checkpoint tensor '\(name)' is not valid q8_0: needs both \(name).q8_0 and \(name).q8_0_scale")
        try rewrite(metadata: meta) { n, _, s, _ in
            if n == name + Q8Storage.quantsSuffix { s = [s[1], s[0]] }  // stored [in, out] instead of [out, in]
            return true
        }
        expectRefusal("checkpoint tensor '\(name)' is not valid q8_0: \(name).q8_0 must be I8 [256, 64], found I8 [64, 256]")
        try rewrite(metadata: meta) { n, d, _, _ in
            if n == name + Q8Storage.quantsSuffix { d = .u8 }
            return true
        }
        expectRefusal("checkpoint tensor '\(name)' is not valid q8_0: \(name).q8_0 must be I8 [256, 64], found U8 [256, 64]")
        // Both the original name and its q8_0 pair.
        try rewrite(metadata: meta) { n, d, s, bytes in
            if n == name + Q8Storage.scaleSuffix { n = name; d = .f32; s = [64, 256]; bytes = [UInt8](repeating: 0, count: 64 * 256 * 4) }
            return true
        }
        XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: pool, weightFormat: nil))
    }

    func firstQ8Base(_ file: SafeTensorsFile) -> String {
        file.entries.compactMap { Q8Storage.split($0.name) }.first!.base
    }
}
