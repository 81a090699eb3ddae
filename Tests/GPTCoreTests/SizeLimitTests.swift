import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels

/// Issue 12, findings 5 and 19: sizes in a checkpoint's config.json are bounded and checked against
/// memory and the weights file before anything is allocated; NaN and infinite weights are refused.
final class SizeLimitTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sizes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A small saved model whose config.json then gets `change`d.
    func savedModel(_ change: [String: Any] = [:]) throws -> URL {
        let model = try GPT(config: GPTModelTests.small, seed: 8, pool: ThreadPool(threads: 1))
        try HuggingFaceGPT2.save(model, to: directory)
        let url = directory.appendingPathComponent("config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json.merge(change) { $1 }
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return directory
    }

    /// The probe's values (n_embd=1e9 trapped in ParameterLayout, n_positions=1e9 tried 128 GB, vocab_size=2³¹−1
    /// 275 GB, n_layer=2³¹−1 grew until killed) are refused by name, at once.
    func testHugeSizeFieldsInConfigJSONAreRefusedByName() throws {
        for (key, value) in [("n_embd", 1_000_000_000), ("n_positions", 1_000_000_000), ("vocab_size", 2_147_483_647),
                             ("n_layer", 2_147_483_647), ("n_head", 1_000_000)] {
            let dir = try savedModel([key: value])
            XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: dir, pool: ThreadPool(threads: 1)), key) {
                XCTAssertEqual(($0 as? GPTConfigError)?.field, key, "\($0)")
            }
        }
        XCTAssertThrowsError(try GPTConfig(embeddingSize: 64, headCount: 128).validate()) {
            XCTAssertEqual(($0 as? GPTConfigError)?.field, "n_head")
        }
        XCTAssertNoThrow(try GPTConfig(vocabSize: GPTConfig.limits.vocabSize, contextLength: GPTConfig.limits.contextLength,
                                       embeddingSize: GPTConfig.limits.embeddingSize, layerCount: GPTConfig.limits.layerCount,
                                       headCount: 1).validate())
    }

    /// Sizes within the bounds but not those of the weights file are refused before a model is allocated.
    func testConfigLargerThanItsWeightsIsRefusedBeforeAllocating() throws {
        let dir = try savedModel(["n_positions": 1_000_000])
        XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: dir, pool: ThreadPool(threads: 1))) {
            XCTAssertEqual($0 as? CheckpointError, .shapeMismatch(tensor: "transformer.wpe.weight", expected: [1_000_000, 32],
                                                                  found: [16, 32]))
        }
        // The same count of floats, but another shape: the header is checked before allocation.
        let wide = try savedModel(["n_positions": 16, "n_layer": 3])
        XCTAssertThrowsError(try HuggingFaceGPT2.checkWeights(
            SafeTensorsFile(contentsOf: wide.appendingPathComponent("model.safetensors")),
            match: GPTConfig(vocabSize: 37, contextLength: 16, embeddingSize: 32, layerCount: 3, headCount: 4))) {
            XCTAssertEqual($0 as? CheckpointError, .missingTensor("h.2.ln_1.weight"))
        }
    }

    func testParameterCountIsCheckedAndEqualsTheLayout() throws {
        for config in [GPTConfig.gpt2, GPTModelTests.small,
                       GPTConfig(vocabSize: 50, contextLength: 9, embeddingSize: 24, layerCount: 3, headCount: 2, bias: false,
                                 positions: .sinusoidal)] {
            XCTAssertEqual(try config.parameterCount(), ParameterLayout(config).count)
        }
        XCTAssertEqual(try GPTConfig.gpt2.parameterCount(), 124_439_808)
        // Unvalidated sizes overflow: an error, not a trap.
        let absurd = GPTConfig(vocabSize: Int.max / 2, embeddingSize: 1 << 40, layerCount: Int.max, headCount: 1)
        XCTAssertThrowsError(try absurd.parameterCount()) { XCTAssert($0 is MemoryError, "\($0)") }
        XCTAssertThrowsError(try absurd.trainingBytes(batch: 1, seq: 1)) { XCTAssert($0 is MemoryError, "\($0)") }
    }

    /// `train --set n_embd=65536 --set n_head=1` is inside the bounds but needs terabytes: GPT.init refuses it with the figure.
    func testModelLargerThanMemoryIsRefusedWithItsSize() throws {
        let config = GPTConfig(embeddingSize: 65_536, headCount: 1)
        XCTAssertThrowsError(try GPT(config: config, pool: ThreadPool(threads: 1))) {
            guard case let .exceedsMemory(_, bytes, available)? = $0 as? MemoryError else { return XCTFail("\($0)") }
            XCTAssertEqual(bytes, try? config.parameterBytes)
            XCTAssertEqual(available, MemoryBudget.physicalBytes)
            XCTAssert("\($0)".contains(" GB"), "\($0)")
        }
        XCTAssertGreaterThan(MemoryBudget.physicalBytes, 1 << 28)
        XCTAssertThrowsError(try MemoryBudget.require(Int.max, for: "everything"))
        XCTAssertNoThrow(try MemoryBudget.require(1 << 20, for: "a megabyte"))
    }

    func testTrainingAndInferenceBytesCoverWhatIsAllocated() throws {
        let config = GPTModelTests.small
        let parameters = try config.parameterBytes
        XCTAssertEqual(parameters, ParameterLayout(config).count * 4)
        let training = try config.trainingBytes(batch: 3, seq: 16, threads: 2)
        XCTAssertGreaterThan(training, 4 * parameters + 3 * 16 * 37 * 4, "4 copies of the layout plus at least the logits")
        XCTAssertEqual(try config.trainingBytes(batch: 3, seq: 16, threads: 2, gradientStash: true), training + parameters,
                       "ordered accumulation's stash is a fifth copy of the layout")
        XCTAssertGreaterThan(try config.inferenceBytes(batch: 2, threads: 2), parameters + 2 * 2 * 2 * 16 * 32 * 4,
                             "parameters plus keys and values of 2 layers")
        // A batch that passes the option checks but not memory (`--set batch_size=1000000`).
        XCTAssertThrowsError(try MemoryBudget.require(GPTConfig.gpt2.trainingBytes(batch: 1_000_000, seq: 1024), for: "training"))
        let model = try GPT(config: config, seed: 1, pool: ThreadPool(threads: 1))
        XCTAssertThrowsError(try InferenceSession(model: model, batch: 1 << 40)) { XCTAssert($0 is MemoryError, "\($0)") }
    }

    /// Issue 12, finding 19: NaN and infinite weights loaded silently, and sampling printed garbage.
    func testNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            let model = try GPT(config: GPTModelTests.small, seed: 8, pool: ThreadPool(threads: 1))
            model.parameter("h.1.attn.c_proj.weight")![5] = bad
            try HuggingFaceGPT2.save(model, to: directory)
            XCTAssertThrowsError(try HuggingFaceGPT2.load(directory: directory, pool: ThreadPool(threads: 1))) {
                guard case let .nonFiniteWeight(tensor, index, _)? = $0 as? CheckpointError else { return XCTFail("\($0)") }
                XCTAssertEqual(tensor, "transformer.h.1.attn.c_proj.weight")
                XCTAssertEqual(index, 5)
            }
        }
    }
}
