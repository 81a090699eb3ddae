// `gpt data fineweb10B` and `gpt data tinystories` through the binary, against a loopback HTTP
// server laid out as the hub's dataset URLs (tests never touch the network): the commands
// honour $HF_ENDPOINT and $HF_HUB_CACHE, print the directory they filled, and that directory
// trains with `gpt train --data`. The library tests (GPTNetworkTests/HubDatasetTests) cover
// caching, bad shards, offline mode and refusals in detail.
import Foundation
import GPTTestSupport
import XCTest

extension CommandLineTests {
    /// Runs gpt with `arguments` and extra environment variables; returns (status, stdout, stderr).
    func gpt(_ arguments: [String], environment extra: [String: String]) throws -> (Int32, String, String) {
        try GPTBinary.run(arguments, environment: extra)
    }

    /// A python3 static file server on 127.0.0.1 for `directory`; returns its port and the process to stop.
    func serveDirectory(_ directory: URL) throws -> (port: String, server: Process) {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-u", "-c", """
            import functools, http.server, sys
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            handler.func.log_message = lambda *a: None
            s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """, directory.path]
        let pipe = Pipe()
        server.standardOutput = pipe
        guard (try? server.run()) != nil else { throw XCTSkip("python3 is not available for a loopback HTTP server") }
        let port = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotNil(Int(port), "the loopback server did not report its port")
        return (port, server)
    }

    /// An llm.c version-1 shard of `ids`.
    static func shardData(_ ids: [UInt16]) -> Data {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20240520; header[1] = 1; header[2] = Int32(ids.count)
        return header.map(\.littleEndian).withUnsafeBytes { Data($0) } + ids.map(\.littleEndian).withUnsafeBytes { Data($0) }
    }

    /// vocab.json + merges.txt of GPT-2's byte-level alphabet alone (bytes_to_unicode) plus <|endoftext|>.
    func writeByteVocabulary() throws -> String {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var characters = printable
        var next = 0
        for byte in 0...255 where !printable.contains(byte) {
            printable.append(byte); characters.append(256 + next); next += 1
        }
        var vocabulary: [String: Int] = ["<|endoftext|>": 256]
        for (byte, scalar) in zip(printable, characters) { vocabulary[String(Character(Unicode.Scalar(scalar)!))] = byte }
        let directory = work.appendingPathComponent("bytes")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: vocabulary).write(to: directory.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
        return directory.appendingPathComponent("vocab.json").path
    }

    func testDataFineWebAndTinyStoriesFetchFromHFEndpointAndTrain() throws {
        let site = work.appendingPathComponent("site")
        let fineweb = site.appendingPathComponent("datasets/kjj0/fineweb10B-gpt2/resolve/main")
        let stories = site.appendingPathComponent("datasets/roneneldan/TinyStories/resolve/main")
        for directory in [fineweb, stories] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        try Self.shardData([1, 2, 3, 4]).write(to: fineweb.appendingPathComponent("fineweb_val_000000.bin"))
        try Self.shardData((0..<300).map { UInt16($0 % 50) }).write(to: fineweb.appendingPathComponent("fineweb_train_000001.bin"))
        let story = Self.sentences.joined(separator: ". ") + "."
        try (Array(repeating: story, count: 30).joined(separator: "\n<|endoftext|>\n") + "\n")
            .write(to: stories.appendingPathComponent("TinyStoriesV2-GPT4-train.txt"), atomically: true, encoding: .utf8)
        try (Array(repeating: story, count: 4).joined(separator: "\n<|endoftext|>\n"))
            .write(to: stories.appendingPathComponent("TinyStoriesV2-GPT4-valid.txt"), atomically: true, encoding: .utf8)
        let (port, server) = try serveDirectory(site)
        defer { server.terminate(); server.waitUntilExit() }
        let environment = ["HF_ENDPOINT": "http://127.0.0.1:\(port)", "HF_HUB_CACHE": work.appendingPathComponent("hub").path]

        let out = work.appendingPathComponent("fw").path
        let fetched = try gpt(["data", "fineweb10B", "--shards", "1", "--out", out], environment: environment)
        XCTAssertEqual(fetched.0, 0, fetched.2)
        XCTAssertEqual(fetched.1, out + "\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/fineweb_train_000001.bin")).count, 1024 + 600)
        XCTAssertTrue(FileManager.default.fileExists(
            atPath: work.appendingPathComponent("hub/datasets--kjj0--fineweb10B-gpt2/snapshots/main/fineweb_val_000000.bin").path))
        let missing = try gpt(["data", "fineweb10B", "--shards", "2", "--out", out], environment: environment)
        XCTAssertEqual(missing.0, 1)
        XCTAssertTrue(missing.2.contains("fineweb_train_000002.bin not found on the hub (404"), missing.2)
        XCTAssertEqual(missing.2.split(separator: "\n").count, 1, "one line: \(missing.2)")
        let range = try gpt(["data", "fineweb10B", "--shards", "104"], environment: environment)
        XCTAssertNotEqual(range.0, 0)
        XCTAssertTrue(range.2.contains("--shards must be in 1...103"), range.2)

        let tiny = work.appendingPathComponent("tiny").path
        let made = try gpt(["data", "tinystories", "--tokenizer", writeByteVocabulary(), "--out", tiny], environment: environment)
        XCTAssertEqual(made.0, 0, made.2)
        XCTAssertEqual(made.1, tiny + "\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: tiny)
        XCTAssertTrue(names.contains("TinyStories_train_000000.bin") && names.contains("TinyStories_val_000000.bin"), "\(names)")
        let run = work.appendingPathComponent("run").path
        let trained = try gpt(["train", "--data", tiny, "--steps", "2", "--eval-every", "0", "--set", "n_layer=1",
                               "--set", "n_positions=32", "--out", run])
        XCTAssertEqual(trained.0, 0, trained.2)

        let offline = try gpt(["data", "tinystories", "--tokenizer", writeByteVocabulary(), "--out", work.appendingPathComponent("t2").path],
                              environment: ["HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": work.appendingPathComponent("empty").path])
        XCTAssertEqual(offline.0, 1)
        XCTAssertTrue(offline.2.contains("HF_HUB_OFFLINE is set") && offline.2.contains("TinyStoriesV2-GPT4-valid.txt"), offline.2)
    }
}
