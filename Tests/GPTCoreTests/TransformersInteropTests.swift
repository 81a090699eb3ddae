// Our export against Hugging Face transformers itself: a model we trained, saved with
// HuggingFaceGPT2.save, must load with GPT2LMHeadModel.from_pretrained and give our
// logits. Runs where python3 can import torch and transformers; skipped otherwise.
import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels
import GPTTestSupport

final class TransformersInteropTests: XCTestCase {
    static let script = """
    import json, sys, torch
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel.from_pretrained(sys.argv[1]).float().eval()
    batch = json.load(open(sys.argv[2]))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(batch["tokens"])).logits
    json.dump(logits.flatten().tolist(), open(sys.argv[3], "w"))
    """

    func python(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func testTransformersLoadsOurExportAndGivesOurLogits() throws {
        guard (try? python(["-c", "import torch, transformers"])) == 0 else {
            throw XCTSkip("python3 with torch and transformers is not installed: Hugging Face interop not checked")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = GPTConfig(vocabSize: 97, contextLength: 32, embeddingSize: 48, layerCount: 2, headCount: 4)
        let model = try GPT(config: config, seed: 21, pool: ThreadPool(threads: 2))
        model.isTraining = true
        let optimizer = AdamW(layout: model.layout)
        var rng = SplitMix64(seed: 3)
        let tokens = (0..<64).map { _ in Int32(rng.next() % 97) }
        for _ in 0..<5 {  // trained weights, not the initial ones
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: tokens.map { ($0 + 1) % 97 }, batch: 2, seq: 32)
            try model.backward()
            optimizer.update(model, learningRate: 1e-2)
        }
        try HuggingFaceGPT2.save(model, to: directory)
        model.isTraining = false
        try model.forward(tokens: tokens, targets: nil, batch: 2, seq: 32)
        let ours = Array(model.logits)

        let batchURL = directory.appendingPathComponent("batch.json"), outURL = directory.appendingPathComponent("logits.json")
        try JSONSerialization.data(withJSONObject: ["tokens": [Array(tokens[..<32]), Array(tokens[32...])].map { $0.map(Int.init) }])
            .write(to: batchURL)
        let scriptURL = directory.appendingPathComponent("logits.py")
        try Self.script.write(to: scriptURL, atomically: true, encoding: .utf8)
        XCTAssertEqual(try python([scriptURL.path, directory.path, batchURL.path, outURL.path]), 0, "the Python side failed")
        let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [Double])
        XCTAssertEqual(theirs.count, ours.count)
        let scale = max(1, maxAbs(theirs))
        let worst = maxAbsDifference(ours, theirs)  // +infinity on any NaN or infinity
        XCTAssertLessThanOrEqual(worst / scale, 1e-4)
        print("transformers interop: GPT2LMHeadModel.from_pretrained on our export, max |logit diff| \(worst) (scale \(scale))")
    }
    /// A checkpoint transformers itself writes in float16 (`save_pretrained` of a `.half()` model) loads:
    /// upcast to fp32 for training, kept in f16 for inference, both giving transformers' logits of the same
    /// (float16) weights computed in float32.
    static let halfScript = """
    import json, sys, torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=64, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    model.half().save_pretrained(sys.argv[1], safe_serialization=True)
    tokens = json.load(open(sys.argv[2]))["tokens"]
    with torch.no_grad():
        logits = model.float()(input_ids=torch.tensor(tokens)).logits
    json.dump(logits.flatten().tolist(), open(sys.argv[3], "w"))
    """

    func testTransformersFloat16CheckpointLoads() throws {
        guard (try? python(["-c", "import torch, transformers"])) == 0 else {
            throw XCTSkip("python3 with torch and transformers is not installed: transformers' float16 export not checked")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-f16-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var rng = SplitMix64(seed: 4)
        let tokens = (0..<64).map { _ in Int32(rng.next() % 97) }
        let batchURL = directory.appendingPathComponent("batch.json"), outURL = directory.appendingPathComponent("logits.json")
        try JSONSerialization.data(withJSONObject: ["tokens": [Array(tokens[..<32]), Array(tokens[32...])].map { $0.map(Int.init) }])
            .write(to: batchURL)
        let scriptURL = directory.appendingPathComponent("half.py"), modelURL = directory.appendingPathComponent("model")
        try Self.halfScript.write(to: scriptURL, atomically: true, encoding: .utf8)
        XCTAssertEqual(try python([scriptURL.path, modelURL.path, batchURL.path, outURL.path]), 0, "the Python side failed")
        let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [Double])
        let file = try SafeTensorsFile(contentsOf: modelURL.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(HuggingFaceGPT2.storedWeightFormat(file), .f16, "transformers stored F16")

        let pool = try ThreadPool(threads: 2)
        for format in [WeightFormat.fp32, .f16] {
            let model = try HuggingFaceGPT2.load(directory: modelURL, pool: pool, weightFormat: format)
            try model.forward(tokens: tokens, targets: nil, batch: 2, seq: 32)
            let ours = Array(model.logits)
            XCTAssertEqual(theirs.count, ours.count)
            let scale = max(1, maxAbs(theirs))
            let worst = maxAbsDifference(ours, theirs)  // +infinity on any NaN or infinity
            XCTAssertLessThanOrEqual(worst / scale, 1e-4, "read as \(format)")
            print("transformers float16 export read as \(format): max |logit diff| \(worst) (scale \(scale))")
        }
    }
}
