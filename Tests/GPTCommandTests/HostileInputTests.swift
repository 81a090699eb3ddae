// Clumsy and hostile input at the command line (issue 12's probe): each gets a one-line
// error and leaves nothing damaged.
import Foundation
import XCTest

extension CommandLineTests {
    func oneLineError(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let (status, _, error) = try gpt(arguments)
        XCTAssertNotEqual(status, 0, "\(arguments) must fail", file: file, line: line)
        XCTAssertLessThan(status, 128, "\(arguments) must not die by a signal", file: file, line: line)
        // The error is the first line; a usage hint may follow for a bad option value.
        let first = String(error.split(separator: "\n").first ?? "")
        XCTAssert(first.hasPrefix("Error: "), "an error line first: \(error)", file: file, line: line)
        return first
    }

    /// Started by mpirun as one of 2 ranks, the commands that train in one process refuse rather than
    /// train 2 unconnected copies into one run directory, and a gpt built without MPI says how to build one.
    func testTrainingAsSeveralRanksIsRefusedWhereTheRanksCannotWorkTogether() throws {
        let ranks = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"]
        let examples = work.appendingPathComponent("examples.jsonl").path
        try "{\"text\": \"good\", \"label\": 1}\n".write(toFile: examples, atomically: true, encoding: .utf8)
        for command in [["finetune", "classify", "--checkpoint", work.path, "--train", examples, "--test", examples, "--out", work.path + "/c"],
                        ["finetune", "chat", "--checkpoint", work.path, "--train", examples, "--out", work.path + "/h"]] {
            let (status, _, error) = try gpt(command, environment: ranks)
            XCTAssertNotEqual(status, 0, command[1])
            XCTAssertTrue(error.contains("gpt finetune \(command[1]) runs in one process, not on 2 MPI ranks; start it without mpirun"),
                          "\(command[1]): \(error)")
        }
        let (status, _, error) = try gpt(["train", "--steps", "1", "--out", work.path + "/t"], environment: ranks)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(error.contains("started as one of 2 MPI ranks, but this gpt was built without MPI"), error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.path + "/t"), "nothing written")
    }

    func testPrepareNeverReadsOrEmptiesItsOwnOutput() throws {
        let dir = work.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try String(repeating: "The cat sat on the mat. ", count: 200).write(to: dir.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        func prepare() throws -> [String: Any] {
            let (status, output, error) = try gpt("prepare", dir.path, "--tokenizer", "char", "--out", dir.path, "--json")
            XCTAssertEqual(status, 0, error)
            return try lastJSON(output)
        }
        let first = try prepare(), second = try prepare()
        XCTAssertEqual(second["vocab_size"] as? Int, first["vocab_size"] as? Int, "the second run did not read train.bin as text")
        XCTAssertEqual(second["val_tokens"] as? Int, first["val_tokens"] as? Int)
        let train = dir.appendingPathComponent("train.bin").path
        let size = try FileManager.default.attributesOfItem(atPath: train)[.size] as? Int
        XCTAssert(try oneLineError(["prepare", train, "--tokenizer", "char", "--out", dir.path]).contains("own output files"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: train)[.size] as? Int, size, "train.bin is untouched")
    }

    func testSpecialFilesAsInputAreRefusedByKind() throws {
        let fifo = work.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssert(try oneLineError(["prepare", fifo, "--tokenizer", "char", "--out", work.appendingPathComponent("p").path])
            .contains("not a regular file"))
        XCTAssert(try oneLineError(["prepare", "/dev/zero", "--tokenizer", "char", "--out", work.appendingPathComponent("p").path])
            .contains("not a regular file"))
        let text = work.appendingPathComponent("t.txt")
        try "abc".write(to: text, atomically: true, encoding: .utf8)
        XCTAssertEqual(try gpt("prepare", text.path, "--tokenizer", "char", "--out", work.appendingPathComponent("tok").path).0, 0)
        let tokenizer = work.appendingPathComponent("tok/gpt-tokenizer.json").path
        XCTAssert(try oneLineError(["tokenizer", "encode", "--tokenizer", tokenizer, "--input", work.path]).contains("directory"))
        XCTAssert(try oneLineError(["tokenizer", "encode", "--tokenizer", tokenizer, "--input", fifo]).contains("FIFO"))
    }

    func testNegativeAndHugeNumbersAreRefusedWithTheirRange() throws {
        XCTAssert(try oneLineError(["train", "--steps", "-1"]).contains("steps"))
        XCTAssert(try oneLineError(["train", "--threads", "9223372036854775807"]).contains("--threads must be in"))
        XCTAssert(try oneLineError(["finetune", "classify", "--checkpoint", "x", "--train", "x", "--test", "x", "--out", "y",
                                    "--epochs", "9223372036854775807"]).contains("--epochs must be in"))
        XCTAssert(try oneLineError(["bench", "train-step", "--seq", "100000"]).contains("--seq must be in"))
        XCTAssert(try oneLineError(["train", "--set", "batch_size=1000000"]).contains("batch_size"))
        // Each value inside its range, the product not: refused with the figure, before anything is written.
        let out = work.appendingPathComponent("huge").path
        XCTAssert(try oneLineError(["train", "--set", "n_embd=65536", "--set", "n_head=1", "--out", out]).contains("GB"))
        XCTAssert(try oneLineError(["train", "--set", "batch_size=60000", "--out", out]).contains("GB"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// A one-token context still samples: every step sees just the newest token.
    func testAModelWithAOneTokenContextSamples() throws {
        let run = work.appendingPathComponent("one").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "0", "--set", "n_positions=1", "--out", run).0, 0)
        let (status, output, error) = try gpt("sample", "--checkpoint", run, "--max-new-tokens", "5", "--json")
        XCTAssertEqual(status, 0, error)
        XCTAssertEqual(((try lastJSON(output)["samples"] as? [[String: Any]])?.first?["ids"] as? [Int])?.count, 5)
    }

    /// Sampling with a tokenizer that has fewer ids than the model would drop what it cannot decode.
    func testSamplingWithASmallerTokenizerIsRefused() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "0", "--out", run).0, 0)
        let small = work.appendingPathComponent("small.txt")
        try "ab".write(to: small, atomically: true, encoding: .utf8)
        let tokenizerFile = work.appendingPathComponent("small-tok").path
        XCTAssertEqual(try gpt("prepare", small.path, "--tokenizer", "char", "--out", tokenizerFile).0, 0)
        XCTAssert(try oneLineError(["sample", "--checkpoint", run, "--tokenizer", tokenizerFile + "/gpt-tokenizer.json"])
            .contains("the model could produce ids the tokenizer cannot decode"))
    }
}

extension CommandLineTests {
    /// With SIGPIPE ignored (as some shells and subprocess callers leave it), a reader that closes
    /// the pipe early ends gpt quietly: no trap, no message.
    func testAClosedPipeEndsTheCommandQuietly() throws {
        let run = work.appendingPathComponent("run").path
        XCTAssertEqual(try gpt("train", "--steps", "2", "--eval-every", "0", "--out", run).0, 0)
        let binary = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "trap '' PIPE; { '\(binary.path)' sample --checkpoint '\(run)' --max-new-tokens 20000 --temperature 1 "
                           + "2>'\(work.path)/err'; echo $? >'\(work.path)/status'; } | head -c 5 >/dev/null"]
        let status = Pipe()
        shell.standardOutput = status
        try shell.run()
        shell.waitUntilExit()
        let error = try String(contentsOfFile: work.path + "/err", encoding: .utf8)
        XCTAssertEqual(try String(contentsOfFile: work.path + "/status", encoding: .utf8), "0\n", error)
        XCTAssertFalse(error.contains("Fatal error") || error.contains("Crash"), error)
    }
}
