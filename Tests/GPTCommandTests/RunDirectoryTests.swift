// A run directory's safety as a user meets it: a second run never clobbers the first,
// a save deletes only what gpt wrote, two runs never share a directory, and SIGTERM or
// SIGHUP save the run as Ctrl-C does.
import Foundation
import XCTest

extension CommandLineTests {
    func testASecondRunIntoTheSameDirectoryIsRefusedUnlessResumedOrOverwritten() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "4", "--eval-every", "2", "--out", run).0, 0)
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint")
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)

        let (status, _, error) = try gpt("train", "--steps", "4", "--out", run)
        XCTAssertNotEqual(status, 0)
        XCTAssertEqual(error.split(separator: "\n").count, 1, error)
        XCTAssert(error.contains("already holds a run") && error.contains("--resume") && error.contains("--overwrite"), error)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint"), before, "the first run is intact")
        XCTAssertEqual(try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8), metrics)
        XCTAssert(FileManager.default.fileExists(atPath: run + "/" + before))

        let (overwritten, _, overwriteError) = try gpt("train", "--steps", "3", "--eval-every", "0", "--out", run, "--overwrite")
        XCTAssertEqual(overwritten, 0, overwriteError)
        XCTAssertEqual(try losses(run).keys.sorted(), [0, 1, 2], "metrics.jsonl holds the new run only")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/" + before), "the replaced run's checkpoint was removed")
        XCTAssertNotEqual(try gpt("train", "--steps", "3", "--out", run, "--resume", "--overwrite").0, 0)
        // The same for fine-tuning.
        let lm = work.appendingPathComponent("lm").path
        let text = work.appendingPathComponent("text.txt")
        try String(repeating: "The cat sees the red ball. ", count: 60).write(to: text, atomically: true, encoding: .utf8)
        let finetune = ["finetune", "lm", "--checkpoint", run, "--data", text.path, "--out", lm, "--steps", "2", "--eval-every", "0"]
        XCTAssertEqual(try gpt(finetune).0, 0)
        let (again, _, againError) = try gpt(finetune)
        XCTAssertNotEqual(again, 0)
        XCTAssert(againError.contains("already holds a run"), againError)
    }

    func testASaveDeletesOnlyWhatGptWrote() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "0", "--out", run).0, 0)
        // The user's own copies, named like ours.
        let saved = try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint")
        try FileManager.default.copyItem(atPath: run + "/" + saved, toPath: run + "/checkpoint-backup")
        try FileManager.default.createDirectory(atPath: run + "/.checkpoint-mine", withIntermediateDirectories: true)
        XCTAssertEqual(try gpt("train", "--steps", "6", "--eval-every", "2", "--out", run, "--resume").0, 0)
        XCTAssert(FileManager.default.fileExists(atPath: run + "/checkpoint-backup/model.safetensors"))
        XCTAssert(FileManager.default.fileExists(atPath: run + "/.checkpoint-mine"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/" + saved), "gpt's own older checkpoint is removed")
    }

    func testTwoRunsCannotShareADirectory() throws {
        let run = work.appendingPathComponent("run").path
        let first = try startGPT(["train", "--steps", "100000", "--eval-every", "0", "--out", run])
        defer { first.terminate(); first.waitUntilExit() }
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/metrics.jsonl") && Date() < deadline { usleep(20_000) }
        let (status, _, error) = try gpt("train", "--steps", "5", "--out", run, "--resume")
        XCTAssertNotEqual(status, 0)
        XCTAssert(error.contains("in use by PID \(first.processIdentifier)"), error)
    }

    /// `timeout`, `docker stop` and Slurm send SIGTERM; a closed terminal sends SIGHUP. Both save
    /// like Ctrl-C, exit 143 / 129, and --resume continues.
    func testSIGTERMAndSIGHUPSaveTheRun() throws {
        for (signal, status) in [(SIGTERM, Int32(143)), (SIGHUP, Int32(129))] {
            let run = work.appendingPathComponent("run-\(signal)").path
            let process = try startGPT(["train", "--steps", "100000", "--eval-every", "0", "--out", run])
            let deadline = Date().addingTimeInterval(60)
            while (try? losses(run).count) ?? 0 < 20 && Date() < deadline { usleep(20_000) }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, status)
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint")
            let state = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/\(link)/state.json")))
                                      as? [String: Any])
            let steps = try XCTUnwrap(state["steps_done"] as? Int)
            XCTAssertEqual(steps, try losses(run).count, "the checkpoint is as far as metrics.jsonl")
        }
    }

    func testACheckpointCopiedAsARealDirectoryIsRefusedBeforeTraining() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "0", "--out", run).0, 0)
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: run + "/checkpoint")
        try FileManager.default.removeItem(atPath: run + "/checkpoint")
        try FileManager.default.copyItem(atPath: run + "/" + target, toPath: run + "/checkpoint")
        let (status, _, error) = try gpt("train", "--steps", "4", "--out", run, "--resume")
        XCTAssertNotEqual(status, 0)
        XCTAssert(error.contains("is a directory, not the link"), error)
        let left = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".link-") || $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "nothing is left behind")
    }

    /// Starts gpt in the background with plain progress lines.
    func startGPT(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["CI": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

extension CommandLineTests {
    /// A stopped `gpt prepare` leaves no half-written train.bin or val.bin, and exits 143.
    func testAnInterruptedPrepareLeavesNoPartialOutput() throws {
        let corpus = work.appendingPathComponent("big.txt")
        let line = Data(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20_000).utf8)
        FileManager.default.createFile(atPath: corpus.path, contents: nil)
        let handle = try FileHandle(forWritingTo: corpus)
        for _ in 0..<120 { try handle.write(contentsOf: line) }  // about 108 MB
        try handle.close()
        let out = work.appendingPathComponent("prepared").path
        let process = try startGPT(["prepare", corpus.path, "--tokenizer", "char", "--out", out, "--threads", "1"])
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out + "/gpt-tokenizer.json") && Date() < deadline { usleep(10_000) }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: corpus)
        guard process.terminationStatus == 143 else {
            // The machine finished before the signal: then the output must be complete.
            XCTAssertEqual(process.terminationStatus, 0)
            return
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertFalse(left.contains("train.bin") || left.contains("val.bin") || left.contains("meta.json"), "\(left)")
        XCTAssertEqual(left.filter { $0.contains(".tmp-") }, [], "no staging file is left")
    }
}
