import Foundation
import XCTest
import GPTCore
import GPTKernels

final class GPTConfigTests: XCTestCase {
    func assertInvalid(_ config: GPTConfig, field: String, line: UInt = #line) {
        XCTAssertThrowsError(try config.validate(), line: line) { error in
            guard let e = error as? GPTConfigError else { return XCTFail("untyped \(error)", line: line) }
            XCTAssertEqual(e.field, field, line: line)
            XCTAssert(e.description.contains(field), line: line)
        }
    }

    func testInvalidFieldsAreNamed() {
        assertInvalid(GPTConfig(embeddingSize: 100, headCount: 12), field: "n_embd")
        assertInvalid(GPTConfig(vocabSize: 0), field: "vocab_size")
        assertInvalid(GPTConfig(contextLength: 0), field: "n_positions")
        assertInvalid(GPTConfig(layerCount: 0), field: "n_layer")
        assertInvalid(GPTConfig(headCount: 0), field: "n_head")
        assertInvalid(GPTConfig(dropout: 1), field: "embd_pdrop")
        var c = GPTConfig(); c.residualDropout = -0.1
        assertInvalid(c, field: "resid_pdrop")
        c = GPTConfig(); c.layerNormEpsilon = 0
        assertInvalid(c, field: "layer_norm_epsilon")
        XCTAssertEqual(GPTConfigError(field: "n_embd", value: "100", rule: "must be divisible by n_head (12)").description,
                       "invalid config: n_embd = 100: must be divisible by n_head (12)")
    }

    func testHuggingFaceConfigJSONRoundTrips() throws {
        let json = #"{"vocab_size": 65, "n_positions": 32, "n_embd": 48, "n_layer": 2, "n_head": 4,"# +
            #" "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.1, "attn_pdrop": 0.0, "n_inner": null}"#
        let config = try JSONDecoder().decode(GPTConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config.vocabSize, 65); XCTAssertEqual(config.contextLength, 32)
        XCTAssertEqual(config.embeddingDropout, 0.1); XCTAssertEqual(config.activation, .gelu)
        XCTAssertEqual(config.positions, .learned); XCTAssertTrue(config.bias)
        let again = try JSONDecoder().decode(GPTConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(again, config)
        var other = config; other.positions = .sinusoidal; other.bias = false; other.activation = .relu
        XCTAssertEqual(try JSONDecoder().decode(GPTConfig.self, from: JSONEncoder().encode(other)), other)
    }

    func testUnsupportedActivationIsRejectedByName() {
        let json = #"{"activation_function": "gelu_accurate"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(GPTConfig.self, from: Data(json.utf8))) {
            XCTAssertEqual(($0 as? GPTConfigError)?.field, "activation_function")
        }
    }

    /// Issue 11: `gelu` is Hugging Face's exact erf GELU; the tanh names are the approximation (transformers' ACT2FN).
    func testActivationNamesFollowHuggingFaceAndEncodeBack() throws {
        for (name, activation, saved) in [("gelu", Activation.geluExact, "gelu"), ("gelu_python", .geluExact, "gelu"),
                                           ("gelu_new", .gelu, "gelu_new"), ("gelu_pytorch_tanh", .gelu, "gelu_new"),
                                           ("gelu_fast", .gelu, "gelu_new"), ("relu", .relu, "relu")] {
            let config = try JSONDecoder().decode(GPTConfig.self, from: Data(#"{"activation_function": "\#(name)"}"#.utf8))
            XCTAssertEqual(config.activation, activation, name)
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any]
            XCTAssertEqual(json?["activation_function"] as? String, saved, name)
            XCTAssertEqual(try JSONDecoder().decode(GPTConfig.self, from: JSONEncoder().encode(config)), config)
        }
    }

    func testParameterLayoutUsesGPT2NamesAndCounts124M() {
        let layout = ParameterLayout(.gpt2)
        XCTAssertEqual(layout.count, 124_439_808)  // GPT-2 small, wte tied
        XCTAssertEqual(layout["h.11.mlp.c_proj.weight"]?.shape, [3072, 768])
        XCTAssertEqual(layout["h.0.attn.c_attn.weight"]?.shape, [768, 2304])
        XCTAssertEqual(layout["wpe.weight"]?.decays, true)
        XCTAssertEqual(layout["ln_f.bias"]?.decays, false)
        var offset = 0
        for t in layout.tensors { XCTAssertEqual(t.offset, offset); offset += t.count }
        var noBias = GPTConfig.gpt2; noBias.bias = false; noBias.positions = .sinusoidal
        let lean = ParameterLayout(noBias)
        XCTAssertNil(lean["h.0.ln_1.bias"]); XCTAssertNil(lean["wpe.weight"])
        XCTAssertFalse(lean.tensors.contains { $0.name.hasSuffix(".bias") })
    }
}

final class CheckpointConfigReadingTests: XCTestCase {
    /// A hand-edited config.json: a fraction or a boolean for a size, a duplicate key and a tiny
    /// probability each get words naming the field, never a decoder dump or a silent choice.
    func testCheckpointConfigValuesAreReadByTheirTypes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("config.json")
        func load(_ json: String) throws -> GPTConfig {
            try json.write(to: url, atomically: true, encoding: .utf8)
            return try HuggingFaceGPT2.loadConfig(url)
        }
        for (json, field) in [(#"{"n_layer": 32.5}"#, "n_layer"), (#"{"n_layer": true}"#, "n_layer"), (#"{"bias": 1}"#, "bias")] {
            XCTAssertThrowsError(try load(json), json) { XCTAssertEqual(($0 as? GPTConfigError)?.field, field, "\($0)") }
        }
        XCTAssertThrowsError(try load(#"{"n_layer": 2, "n_layer": 3}"#)) { XCTAssert("\($0)".contains("'n_layer' appears more than once"), "\($0)") }
        XCTAssertThrowsError(try load("[1, 2]")) { XCTAssert("\($0)".contains("not a JSON object"), "\($0)") }
        let tiny = try load(#"{"n_layer": 2, "n_head": 2, "n_embd": 8, "resid_pdrop": 1e-50}"#)
        XCTAssertEqual(tiny.residualDropout, 0)
    }
}
