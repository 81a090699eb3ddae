// `gpt train --pairs`, `gpt translate` and `gpt eval --pairs` through the binary, on a tiny
// encoder–decoder trained to reverse strings of the letters a–f.
import Foundation
import GPTTestSupport
import XCTest

final class TranslateCommandTests: XCTestCase {
    private func gpt(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try GPTBinary.run(arguments)
    }

    /// Strings of 2...6 spaced letters and their reverse.
    private func reversePairs(count: Int, seed: UInt64) -> [(String, String)] {
        var state = seed
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        let letters = Array("abcdef")
        return (0..<count).map { _ in
            // Letters between spaces, so BLEU has n-grams to count.
            let word = (0..<(2 + next() % 5)).map { _ in String(letters[next() % 6]) }
            return (word.joined(separator: " "), word.reversed().joined(separator: " "))
        }
    }

    private func lastJSON(_ out: String) throws -> [String: Any] {
        let line = try XCTUnwrap(out.split(separator: "\n").last, out)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], out)
    }

    func testAGPTOnlyFieldOnAnEncoderDecoderIsAOneLineError() throws {
        let refused = try gpt(["train", "--pairs", "/nonexistent.jsonl", "--set", "bias=false"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.err.contains("bias does not apply to model_type transformer"), refused.err)
        XCTAssertEqual(refused.err.split(separator: "\n").count, 1, refused.err)
    }

    func testTranslateReversesOnTheToyModelBeamScoresAtLeastGreedyAndBadInputIsOneLineError() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("translate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let pairsFile = work.appendingPathComponent("pairs.jsonl"), testFile = work.appendingPathComponent("test.jsonl")
        func jsonl(_ pairs: [(String, String)]) -> Data {
            Data(pairs.map { #"{"source": "\#($0.0)", "target": "\#($0.1)"}"# }.joined(separator: "\n").utf8)
        }
        try jsonl(reversePairs(count: 800, seed: 1)).write(to: pairsFile)
        let test = reversePairs(count: 30, seed: 2)
        try jsonl(test).write(to: testFile)
        let run = work.appendingPathComponent("run")
        let trained = try gpt(["train", "--pairs", pairsFile.path, "--out", run.path, "--threads", "2", "--steps", "600",
                               "--eval-every", "200"] + ["n_embd=32", "n_layer=2", "n_head=2", "dim_feedforward=64", "n_positions=12",
                                                         "dropout=0", "max_tokens=192", "lr_schedule=cosine", "learning_rate=3e-3",
                                                         "min_learning_rate=3e-4", "warmup_steps=30", "weight_decay=0"]
                                .flatMap { ["--set", $0] })
        XCTAssertEqual(trained.status, 0, trained.err)
        for file in ["config.json", "metrics.jsonl", "loss.svg", "checkpoint/model.safetensors", "checkpoint/optimizer.safetensors",
                     "checkpoint/state.json", "checkpoint/gpt-tokenizer.json", "best/config.json"] {
            XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(file) is missing")
        }
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssert(metrics.contains("\"val_loss\""), metrics)

        // Greedy (streamed, plain text) reverses held-out strings.
        let sources = test.prefix(10).map(\.0)
        let greedy = try gpt(["translate", "--checkpoint", run.path, "--beam", "1", "--threads", "1"] + sources)
        XCTAssertEqual(greedy.status, 0, greedy.err)
        let lines = greedy.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(lines.count, sources.count, greedy.out)
        let correct = zip(lines, test.prefix(10)).filter { $0.0 == $0.1.1 }.count
        XCTAssertGreaterThanOrEqual(correct, 8, "greedy: \(lines) for \(sources)")

        // --input: one translation per non-empty line, in order; the same as the arguments give.
        let inputFile = work.appendingPathComponent("input.txt")
        try Data((sources.prefix(3).joined(separator: "\n\n") + "\n").utf8).write(to: inputFile)
        let fromFile = try gpt(["translate", "--checkpoint", run.path, "--beam", "1", "--input", inputFile.path])
        XCTAssertEqual(fromFile.status, 0, fromFile.err)
        XCTAssertEqual(fromFile.out.split(separator: "\n").map(String.init), Array(lines.prefix(3)))

        // Beam search (no length penalty) finds a log-probability at least greedy's, source by source.
        let greedyJSON = try gpt(["translate", "--checkpoint", run.path, "--beam", "1", "--json"] + sources)
        let beamJSON = try gpt(["translate", "--checkpoint", run.path, "--beam", "4", "--length-penalty", "0", "--json"] + sources)
        XCTAssertEqual(greedyJSON.status, 0, greedyJSON.err)
        XCTAssertEqual(beamJSON.status, 0, beamJSON.err)
        func objects(_ out: String) throws -> [[String: Any]] {
            try out.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
        let g = try objects(greedyJSON.out), b = try objects(beamJSON.out)
        XCTAssertEqual(g.count, sources.count + 1)
        XCTAssertEqual(g.last?["translations"] as? Int, sources.count)
        for (x, y) in zip(g.dropLast(), b.dropLast()) {
            let gl = try XCTUnwrap(x["log_probability"] as? Double), bl = try XCTUnwrap(y["log_probability"] as? Double)
            XCTAssertGreaterThanOrEqual(bl, gl - 1e-9, "\(x["source"] ?? "") greedy \(x["text"] ?? "") \(gl), beam \(y["text"] ?? "") \(bl)")
            XCTAssertEqual(x["source"] as? String, y["source"] as? String)
        }

        // gpt eval --pairs: loss, BLEU and chrF.
        let evaluated = try gpt(["eval", "--checkpoint", run.path, "--pairs", testFile.path, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.err)
        let scores = try lastJSON(evaluated.out)
        XCTAssertGreaterThan(try XCTUnwrap(scores["bleu"] as? Double), 50, evaluated.out)
        XCTAssertGreaterThan(try XCTUnwrap(scores["chrf"] as? Double), 70, evaluated.out)
        XCTAssertLessThan(try XCTUnwrap(scores["loss"] as? Double), 0.5, evaluated.out)
        XCTAssertEqual(scores["pairs"] as? Int, 30)

        // Bad input: a one-line error and a non-zero status, never a crash.
        let bad: [([String], String)] = [
            (["translate", "--checkpoint", run.path, ""], "text 1 is empty: nothing to translate"),
            (["translate", "--checkpoint", run.path, "a b c d e f a b"], "text 1 has 15 tokens, more than the model's 12 positions"),
            (["translate", "--checkpoint", run.path, "xyz"], "x"),
            (["translate", "--checkpoint", run.path, "--beam", "0", "abc"], "--beam must be in 1...64, got 0"),
            (["translate", "--checkpoint", work.appendingPathComponent("nowhere").path, "abc"], "nowhere"),
            (["translate", "--checkpoint", run.path], "give texts as arguments or --input FILE"),
            (["eval", "--checkpoint", run.path, "--data", pairsFile.path], "is an encoder–decoder checkpoint: evaluate it with --pairs"),
            (["sample", "--checkpoint", run.path], "which gpt translate and gpt eval --pairs take; this command takes a GPT"),
            (["convert", "--from", run.path, "--to", work.appendingPathComponent("hf").path, "--format", "hf"],
             "which gpt translate and gpt eval --pairs take; this command takes a GPT"),
            (["train", "--pairs", pairsFile.path, "--data", pairsFile.path, "--out", work.appendingPathComponent("r2").path],
             "not both"),
        ]
        for (arguments, message) in bad {
            let result = try gpt(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            let err = result.err.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssert(err.contains(message), "\(arguments): \(err)")
            XCTAssertFalse(err.hasPrefix("Fatal") || err.contains("Stack dump"), "\(arguments): \(err)")
        }
    }
}
