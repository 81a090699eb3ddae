// `gpt convert` of an encoder–decoder through the binary: --format hf writes a MarianMTModel
// directory with the tokenizer beside it, on which `gpt translate` and `gpt eval --pairs` give what
// they give on the original (the weights round-trip bit for bit, so the translations and
// log-probabilities are equal, not close); --format native reads the Marian directory back.
// A model with final norms is refused with a one-line error that names --set final_norm=false.
import Foundation
import GPTTestSupport
import XCTest

final class ConvertMarianCommandTests: XCTestCase {
    func testConvertToMarianAndBackTranslatesExactlyAsTheOriginal() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("convert-marian-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let letters = ["a b c", "d e f a", "b a d", "f e", "c c a b e", "e d"]
        let pairs = (0..<60).map { i -> String in
            let source = letters[i % letters.count]
            return #"{"source": "\#(source)", "target": "\#(source.split(separator: " ").reversed().joined(separator: " "))"}"#
        }
        let pairsFile = work.appendingPathComponent("pairs.jsonl")
        try Data(pairs.joined(separator: "\n").utf8).write(to: pairsFile)
        let run = work.appendingPathComponent("run")
        let trained = try GPTBinary.run(["train", "--pairs", pairsFile.path, "--out", run.path, "--threads", "1", "--steps", "4",
                                         "--eval-every", "4"]
                                        + ["n_embd=24", "n_layer=2", "n_head=3", "dim_feedforward=40", "n_positions=12", "dropout=0",
                                           "max_tokens=96", "final_norm=false"].flatMap { ["--set", $0] })
        XCTAssertEqual(trained.status, 0, trained.err)

        let marian = work.appendingPathComponent("marian"), back = work.appendingPathComponent("back")
        let exported = try GPTBinary.run(["convert", "--from", run.path, "--to", marian.path, "--format", "hf"])
        XCTAssertEqual(exported.status, 0, exported.err)
        XCTAssert(exported.out.contains("MarianMTModel"), exported.out)
        for file in ["config.json", "model.safetensors", "gpt-tokenizer.json"] {
            XCTAssert(FileManager.default.fileExists(atPath: marian.appendingPathComponent(file).path), "\(file) is missing")
        }
        let config = try String(contentsOf: marian.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssert(config.contains(#""model_type" : "marian""#), config)
        let imported = try GPTBinary.run(["convert", "--from", marian.path, "--to", back.path, "--format", "native"])
        XCTAssertEqual(imported.status, 0, imported.err)

        func translations(_ checkpoint: URL) throws -> [String] {
            let result = try GPTBinary.run(["translate", "--checkpoint", checkpoint.path, "--beam", "3", "--max-length", "8", "--json",
                                            "--threads", "1"] + letters)
            XCTAssertEqual(result.status, 0, "\(checkpoint.lastPathComponent): \(result.err)")
            return Array(result.out.split(separator: "\n").map(String.init).dropLast())  // the last line has timings
        }
        let original = try translations(run)
        XCTAssertEqual(original.count, letters.count)
        XCTAssertEqual(try translations(marian), original, "the MarianMTModel export translates differently")
        XCTAssertEqual(try translations(back), original, "the model read back from Marian translates differently")

        func loss(_ checkpoint: URL) throws -> Double? {
            let result = try GPTBinary.run(["eval", "--checkpoint", checkpoint.path, "--pairs", pairsFile.path, "--beam", "1", "--json"])
            XCTAssertEqual(result.status, 0, result.err)
            let line = result.out.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
        }
        let originalLoss = try XCTUnwrap(try loss(run))
        XCTAssertEqual(try loss(marian), originalLoss)

        let bf16 = try GPTBinary.run(["convert", "--from", run.path, "--to", work.appendingPathComponent("x").path, "--dtype", "bf16"])
        XCTAssertNotEqual(bf16.status, 0)
        XCTAssert(bf16.err.contains("converts in fp32 only"), bf16.err)
    }

    func testConvertRefusesAModelWithFinalNormsInOneLineNamingTheSetting() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("convert-marian-refused-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let pairsFile = work.appendingPathComponent("pairs.jsonl")
        try Data((0..<20).map { _ in #"{"source": "a b", "target": "b a"}"# }.joined(separator: "\n").utf8).write(to: pairsFile)
        let run = work.appendingPathComponent("run"), out = work.appendingPathComponent("hf")
        let trained = try GPTBinary.run(["train", "--pairs", pairsFile.path, "--out", run.path, "--threads", "1", "--steps", "1",
                                         "--eval-every", "1"]
                                        + ["n_embd=8", "n_layer=1", "n_head=2", "dim_feedforward=8", "n_positions=6", "max_tokens=32",
                                           "final_norm=true"].flatMap { ["--set", $0] })
        XCTAssertEqual(trained.status, 0, trained.err)
        let refused = try GPTBinary.run(["convert", "--from", run.path, "--to", out.path, "--format", "hf"])
        XCTAssertNotEqual(refused.status, 0)
        let err = refused.err.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssert(err.contains("cannot export as a Hugging Face MarianMTModel: final_norm is true"), err)
        XCTAssert(err.contains("--set final_norm=false"), err)
        XCTAssertFalse(err.contains("\n") || err.contains("Stack dump"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        // The native form of the same model converts: the refusal is Marian's, not the model's.
        let native = try GPTBinary.run(["convert", "--from", run.path, "--to", work.appendingPathComponent("native").path,
                                        "--format", "native"])
        XCTAssertEqual(native.status, 0, native.err)
    }
}
