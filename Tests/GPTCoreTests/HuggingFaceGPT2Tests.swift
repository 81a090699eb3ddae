import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels

final class HuggingFaceGPT2Tests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testSavedModelLoadsBackIdentically() throws {
        let pool = try ThreadPool(threads: 1)
        let model = try GPT(config: GPTModelTests.small, seed: 8, pool: pool)
        try HuggingFaceGPT2.save(model, to: directory)
        let loaded = try HuggingFaceGPT2.load(directory: directory, pool: pool)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: loaded.parameters, count: loaded.layout.count)),
                       Array(UnsafeBufferPointer(start: model.parameters, count: model.layout.count)))
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        XCTAssertNotNil(file["transformer.h.1.mlp.c_fc.weight"], "written with Hugging Face's names")
    }

    /// Hugging Face's GPT-2 always has a learned wpe and fills a missing one with random values, so
    /// a sinusoidal model's export carries its table there; loading it back recomputes the table.
    func testSinusoidalExportCarriesItsPositionTable() throws {
        let pool = try ThreadPool(threads: 1)
        var config = GPTModelTests.small
        config.positions = .sinusoidal
        let model = try GPT(config: config, seed: 8, pool: pool)
        try HuggingFaceGPT2.save(model, to: directory)
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        let wpe = try XCTUnwrap(file["transformer.wpe.weight"], "the table is written")
        XCTAssertEqual(wpe.shape, [config.contextLength, config.embeddingSize])
        var table = [Float](repeating: 0, count: config.contextLength * config.embeddingSize)
        Embedding.sinusoidalTable(&table, positions: config.contextLength, channels: config.embeddingSize)
        XCTAssertEqual(try file.floats("transformer.wpe.weight"), table)
        let loaded = try HuggingFaceGPT2.load(directory: directory, pool: pool)
        let tokens: [Int32] = [1, 2, 3, 4]
        XCTAssertEqual(try loaded.forward(tokens: tokens, targets: tokens, batch: 1, seq: 4),
                       try model.forward(tokens: tokens, targets: tokens, batch: 1, seq: 4))
    }

    /// Bare names (`h.0…`), a tied `lm_head.weight`, the causal-mask buffers and F16 storage all load.
    func testBareNamesBuffersAndHalfPrecisionLoad() throws {
        let pool = try ThreadPool(threads: 1)
        let model = try GPT(config: GPTModelTests.small, seed: 8, pool: pool)
        var writer = SafeTensorsWriter()
        for t in model.layout.tensors {
            writer.add(t.name, floats: UnsafeBufferPointer(start: model.parameters + t.offset, count: t.count), shape: t.shape)
        }
        writer.add("lm_head.weight", floats: Array(model.parameter("wte.weight")!), shape: [37, 32])
        writer.add("h.0.attn.bias", floats: [Float](repeating: 1, count: 256), shape: [1, 1, 16, 16])
        writer.add("h.0.attn.masked_bias", floats: [-1e4], shape: [])
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        try JSONEncoder().encode(model.config).write(to: directory.appendingPathComponent("config.json"))
        let loaded = try HuggingFaceGPT2.load(directory: directory, pool: pool)
        XCTAssertEqual(Array(loaded.parameter("h.1.attn.c_attn.weight")!), Array(model.parameter("h.1.attn.c_attn.weight")!))
    }

    func testMismatchedShapeNamesTensorAndBothShapes() throws {
        let pool = try ThreadPool(threads: 1)
        let model = try GPT(config: GPTModelTests.small, seed: 8, pool: pool)
        try HuggingFaceGPT2.save(model, to: directory)
        var other = GPTModelTests.small
        other.embeddingSize = 16
        try JSONEncoder().encode(other).write(to: directory.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: pool)) { error in
            guard case let .shapeMismatch(tensor, expected, found)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertTrue(tensor.hasPrefix("transformer."))
            XCTAssertNotEqual(expected, found)
            XCTAssert("\(error)".contains(tensor))
        }
    }

    func testMissingFilesAndTensorsAreReported() throws {
        let pool = try ThreadPool(threads: 1)
        XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: pool)) {
            guard case .missingFile(let path)? = $0 as? CheckpointError else { return XCTFail("\($0)") }
            XCTAssert(path.hasSuffix("config.json"))
        }
        try JSONEncoder().encode(GPTModelTests.small).write(to: directory.appendingPathComponent("config.json"))
        var writer = SafeTensorsWriter()
        writer.add("transformer.wte.weight", floats: [Float](repeating: 0, count: 37 * 32), shape: [37, 32])
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: pool)) {
            XCTAssertEqual($0 as? CheckpointError, .missingTensor("wpe.weight"))
        }
    }
}
