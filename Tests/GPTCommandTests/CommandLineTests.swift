// The `gpt` binary end to end, as a user runs it: train the demo briefly, then sample,
// evaluate and convert the result; bad options must fail with a one-line error.
import Foundation
import GPTTestSupport
import XCTest

final class CommandLineTests: XCTestCase {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/gpt")
    var work: URL!

    override func setUpWithError() throws {
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
        guard candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("the gpt binary is not built next to the tests (run swift test -c release)")
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let work { try? FileManager.default.removeItem(at: work) } }

    /// Runs gpt with `arguments`; returns (status, stdout, stderr).
    func gpt(_ arguments: String...) throws -> (Int32, String, String) { try gpt(arguments) }

    func gpt(_ arguments: [String]) throws -> (Int32, String, String) {
        try GPTBinary.run(arguments)
    }

    /// step → train_loss from a run's metrics.jsonl.
    func losses(_ run: String) throws -> [Int: Double] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        var out: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            out[try XCTUnwrap(object["step"] as? Int)] = try XCTUnwrap(object["train_loss"] as? Double)
        }
        return out
    }

    /// Ctrl-C in the middle of a run saves a checkpoint; --resume then logs the same losses,
    /// bit for bit, as a run that never stopped.
    func testInterruptedRunResumesExactly() throws {
        let straight = work.appendingPathComponent("straight").path, stopped = work.appendingPathComponent("stopped").path
        XCTAssertEqual(try gpt("train", "--steps", "150", "--eval-every", "50", "--out", straight).0, 0)
        let binary = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        let process = Process()
        process.executableURL = binary
        process.arguments = ["train", "--steps", "150", "--eval-every", "50", "--out", stopped]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while (try? losses(stopped).count) ?? 0 < 60 && Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, "Ctrl-C ends the run with status 130 after saving")
        let done = try losses(stopped).count
        XCTAssertLessThan(done, 150, "the run stopped early")
        XCTAssertEqual(try gpt("train", "--steps", "150", "--eval-every", "50", "--out", stopped, "--resume").0, 0)
        XCTAssertEqual(try losses(stopped), try losses(straight))
        print("resume: stopped after \(done) of 150 steps, resumed; all 150 losses equal the uninterrupted run's")
    }

    /// A run confined to one CPU (`taskset -c 0`, as in a one-CPU container) still saves and stops on
    /// SIGTERM: the signal is recorded by the handler itself, not by a thread the training could hold.
    func testSigtermStopsARunConfinedToOneCPU() throws {
        let taskset = "/usr/bin/taskset"
        guard FileManager.default.isExecutableFile(atPath: taskset) else { throw XCTSkip("\(taskset) is not installed") }
        let run = work.appendingPathComponent("one-cpu").path
        let binary = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        let process = Process()
        process.executableURL = URL(fileURLWithPath: taskset)
        process.arguments = ["-c", "0", binary.path, "train", "--steps", "100000", "--eval-every", "1000", "--out", run]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while (try? losses(run).count) ?? 0 < 20 && Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < stopDeadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        XCTAssertEqual(process.terminationStatus, 143, "SIGTERM ends the run with status 143 after saving")
        XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint"), "a checkpoint was saved")
    }

    /// --keep-checkpoints keeps the checkpoint of every save, not only the latest and the best.
    func testKeepCheckpointsKeepsEverySavedStep() throws {
        let kept = work.appendingPathComponent("kept").path, plain = work.appendingPathComponent("plain").path
        XCTAssertEqual(try gpt("train", "--steps", "6", "--eval-every", "0", "--checkpoint-every", "2", "--keep-checkpoints",
                               "--out", kept).0, 0)
        XCTAssertEqual(try gpt("train", "--steps", "6", "--eval-every", "0", "--checkpoint-every", "2", "--out", plain).0, 0)
        func checkpoints(_ run: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("checkpoint-") }.sorted()
        }
        XCTAssertEqual(try checkpoints(kept), ["checkpoint-2", "checkpoint-4", "checkpoint-6"])
        XCTAssertEqual(try checkpoints(plain), ["checkpoint-6"])
    }

    /// A diverging run stops with a message naming the step and never checkpoints non-finite weights;
    /// with --skip-nonfinite it logs the skipped steps and finishes.
    func testNonFiniteLossStopsWithoutSavingBadWeights() throws {
        let run = work.appendingPathComponent("good").path
        XCTAssertEqual(try gpt("train", "--steps", "4", "--eval-every", "2", "--out", run).0, 0)
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint")
        // Continued with a learning rate that blows the weights up.
        let (status, _, error) = try gpt("train", "--steps", "30", "--eval-every", "100", "--out", run, "--resume",
                                         "--set", "learning_rate=1e30", "--set", "warmup_steps=0")
        XCTAssertNotEqual(status, 0)
        XCTAssert(error.contains("not finite at step"), error)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint"), before,
                       "the last good checkpoint is kept")
        let skipping = work.appendingPathComponent("skip").path
        let (_, _, skipError) = try gpt("train", "--steps", "5", "--eval-every", "0", "--out", skipping,
                                        "--set", "learning_rate=1e30", "--set", "warmup_steps=0", "--skip-nonfinite")
        XCTAssert(skipError.contains("update skipped"), skipError)
        XCTAssert(skipError.contains("not finite after step 4; not saved"), skipError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: skipping + "/checkpoint"))
    }

    func testDataShakespeareTakesALocalCopyAndRefusesAnotherFile() throws {
        let shakespeare = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt")
        guard FileManager.default.fileExists(atPath: shakespeare.path) else { throw XCTSkip("\(shakespeare.path) is absent") }
        let out = work.appendingPathComponent("cache/shakespeare.txt").path
        let (status, printed, _) = try gpt("data", "shakespeare", "--from", shakespeare.path, "--out", out)
        XCTAssertEqual(status, 0)
        XCTAssertEqual(printed.trimmingCharacters(in: .newlines), out)
        XCTAssertEqual(FileManager.default.contents(atPath: out), FileManager.default.contents(atPath: shakespeare.path))
        let other = work.appendingPathComponent("other.txt")
        try "not it".write(to: other, atomically: true, encoding: .utf8)
        let (refused, _, error) = try gpt("data", "shakespeare", "--from", other.path, "--out", out + ".2")
        XCTAssertNotEqual(refused, 0)
        XCTAssertEqual(error.split(separator: "\n").count, 1, "one line: \(error)")
        XCTAssert(error.contains("not Tiny Shakespeare"))
    }

    func testConfigFilesInTOMLOrJSONAndSetOverrideThePresetInThatOrder() throws {
        let toml = work.appendingPathComponent("run.toml"), json = work.appendingPathComponent("run.json")
        try "n_layer = 2\nlearning_rate = 3e-3\nbias = false\n".write(to: toml, atomically: true, encoding: .utf8)
        try #"{"n_layer": 3, "position_embedding": "sinusoidal"}"#.write(to: json, atomically: true, encoding: .utf8)
        for (file, layers) in [(toml, 2), (json, 3)] {
            let run = work.appendingPathComponent(file.lastPathComponent + ".out").path
            let (status, output, error) = try gpt("train", "--config", file.path, "--set", "n_head=2", "--steps", "2", "--out", run)
            XCTAssertEqual(status, 0, error)
            XCTAssert(output.contains("n_layer=\(layers)") && output.contains("n_head=2"), output)
            let saved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
                                      as? [String: Any])
            XCTAssertEqual(saved["n_layer"] as? Int, layers, "the resolved config is saved with the run")
        }
        let bad = work.appendingPathComponent("bad.toml")
        try "n_head = 0\n".write(to: bad, atomically: true, encoding: .utf8)
        let (status, _, error) = try gpt("train", "--config", bad.path)
        XCTAssertNotEqual(status, 0)
        XCTAssert(error.contains("n_head = 0"), error)
    }

    func lastJSON(_ text: String) throws -> [String: Any] {
        let line = try XCTUnwrap(text.split(separator: "\n").last)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testTrainThenSampleEvaluateAndConvert() throws {
        let run = work.appendingPathComponent("run").path
        let (status, output, _) = try gpt("train", "--steps", "30", "--eval-every", "29", "--out", run, "--threads", "2")
        XCTAssertEqual(status, 0, output)
        XCTAssert(output.contains("checkpoint in"), output)
        XCTAssertEqual(try losses(run).keys.sorted(), Array(0..<30), "metrics.jsonl has every step")
        XCTAssertTrue(try String(contentsOfFile: run + "/loss.svg", encoding: .utf8).contains("validation loss"))

        let (s1, sampled, speed) = try gpt("sample", "--checkpoint", run, "--prompt", "The cat", "--max-new-tokens", "20",
                                           "--num-samples", "2", "--seed", "4", "--json")
        XCTAssertEqual(s1, 0, speed)
        let json = try lastJSON(sampled)
        let samples = try XCTUnwrap(json["samples"] as? [[String: Any]])
        XCTAssertEqual(samples.count, 2)
        XCTAssertEqual((samples[0]["ids"] as? [Int])?.count, 20)
        XCTAssertNotNil(json["decode_tokens_per_sec"] as? Double)
        XCTAssert(speed.contains("prefill"), "speeds go to standard error")
        let (_, again, _) = try gpt("sample", "--checkpoint", run, "--prompt", "The cat", "--max-new-tokens", "20",
                                    "--num-samples", "2", "--seed", "4", "--json")
        XCTAssertEqual(try lastJSON(again)["samples"] as? [[String: AnyHashable]], samples as? [[String: AnyHashable]],
                       "the seed fixes the samples")

        let text = work.appendingPathComponent("eval.txt")
        try "The cat sees the red ball.\nThe king finds a long letter.\n".write(to: text, atomically: true, encoding: .utf8)
        let (s2, evaluated, _) = try gpt("eval", "--checkpoint", run, "--data", text.path, "--json")
        XCTAssertEqual(s2, 0)
        let loss = try XCTUnwrap(try lastJSON(evaluated)["loss"] as? Double)
        XCTAssertEqual(try lastJSON(evaluated)["perplexity"] as? Double ?? 0, exp(loss), accuracy: 1e-9)

        let hf = work.appendingPathComponent("hf").path
        let (s3, _, convertError) = try gpt("convert", "--from", run, "--to", hf, "--format", "hf")
        XCTAssertEqual(s3, 0, convertError)
        let (s4, fromHF, _) = try gpt("sample", "--checkpoint", hf, "--tokenizer", run + "/checkpoint", "--prompt", "The cat",
                                      "--max-new-tokens", "20", "--num-samples", "2", "--seed", "4", "--json")
        XCTAssertEqual(s4, 0)
        XCTAssertEqual(try lastJSON(fromHF)["samples"] as? [[String: AnyHashable]], samples as? [[String: AnyHashable]],
                       "the converted checkpoint samples the same")
    }

    func testBenchGenerateReportsTheMedianOfItsDecodeRunsWithTheirMinAndMax() throws {
        // GPT-2 124M with random weights, a 1-token prompt and 2 new tokens: seconds, not minutes.
        let (status, output, err) = try gpt("bench", "generate", "--threads", "1", "--prompt-tokens", "1", "--new-tokens", "2",
                                            "--prefill-tokens", "1", "--repeats", "3", "--json")
        XCTAssertEqual(status, 0, err)
        let json = try lastJSON(output)
        let runs = try XCTUnwrap(json["decode_tokens_per_sec_runs"] as? [Double], output).sorted()
        XCTAssertEqual(runs.count, 3)
        XCTAssertEqual(json["decode_runs"] as? Int, 3)
        XCTAssertEqual(json["decode_tokens_per_sec"] as? Double, runs[1], "the median of three runs is the middle one")
        XCTAssertEqual(json["decode_tokens_per_sec_min"] as? Double, runs[0])
        XCTAssertEqual(json["decode_tokens_per_sec_max"] as? Double, runs[2])
        XCTAssert(output.contains("min–max of 3"), output)
    }

    func testStopTextCutsTheSampleBeforeIt() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "60", "--eval-every", "1000", "--out", run).0, 0)
        let (_, free, _) = try gpt("sample", "--checkpoint", run, "--prompt", "The", "--max-new-tokens", "80", "--json")
        let text = try XCTUnwrap((try lastJSON(free)["samples"] as? [[String: Any]])?.first?["text"] as? String)
        let stop = String(text.dropFirst(5).prefix(2))
        let (_, cut, _) = try gpt("sample", "--checkpoint", run, "--prompt", "The", "--max-new-tokens", "80", "--stop", stop, "--json")
        let kept = try XCTUnwrap((try lastJSON(cut)["samples"] as? [[String: Any]])?.first?["text"] as? String)
        XCTAssertTrue(text.hasPrefix(kept))
        XCTAssertFalse(kept.contains(stop))
        XCTAssertEqual(text[text.index(text.startIndex, offsetBy: kept.count)...].hasPrefix(stop), true)
    }

    func testBadOptionsFailWithAOneLineError() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "1000", "--out", run).0, 0)
        for arguments in [["sample", "--checkpoint", run, "--top-p", "1.5"], ["sample", "--checkpoint", run, "--top-k", "0"],
                          ["sample", "--checkpoint", run, "--temperature=-1"],
                          ["sample", "--checkpoint", run, "--max-new-tokens", "1000000"],
                          ["sample", "--checkpoint", run, "--prompt", "日本"],
                          ["sample", "--checkpoint", work.appendingPathComponent("missing").path],
                          ["train", "--preset", "nonsense"], ["bench", "train-step", "--batch", "0"]] {
            let (status, _, error) = try gpt(arguments)
            XCTAssertNotEqual(status, 0, "\(arguments) must fail")
            XCTAssert(error.contains("Error"), "\(arguments): \(error)")
            print("gpt \(arguments.joined(separator: " ")): \(error.split(separator: "\n").first ?? "")")
        }
    }
}
