// llm.c shards and HellaSwag through the `gpt` binary: prepare --format llmc feeds train and
// eval exactly as the native format does; eval --task hellaswag reports accuracies that
// follow its per-example details; data hellaswag fetches from the given URL (a loopback
// server here: tests never touch the network) and refuses a file that is not HellaSwag.
import Foundation
import XCTest

extension CommandLineTests {
    func testLLMCShardsTrainAndEvaluateLikeTheNativeFormat() throws {
        let corpus = work.appendingPathComponent("corpus.txt")
        try String(repeating: Self.sentences.joined(separator: ".\n") + ".\n", count: 40).write(to: corpus, atomically: true, encoding: .utf8)
        let native = work.appendingPathComponent("native").path, shards = work.appendingPathComponent("shards").path
        XCTAssertEqual(try gpt("prepare", corpus.path, "--tokenizer", "char", "--out", native).0, 0)
        let (status, _, err) = try gpt("prepare", corpus.path, "--tokenizer", "char", "--out", shards, "--format", "llmc",
                                       "--shard-tokens", "2000")
        XCTAssertEqual(status, 0, err)
        let names = try FileManager.default.contentsOfDirectory(atPath: shards).sorted()
        XCTAssertTrue(names.contains("shards_train_000000.bin") && names.contains("shards_train_000001.bin")
                      && names.contains("shards_val_000000.bin"), "\(names)")

        let run = work.appendingPathComponent("run").path
        let trained = try gpt("train", "--data", shards, "--steps", "3", "--eval-every", "0", "--set", "n_layer=1",
                              "--set", "n_positions=32", "--out", run)
        XCTAssertEqual(trained.0, 0, trained.2)
        let a = try gpt("eval", "--checkpoint", run, "--data", native, "--json")
        let b = try gpt("eval", "--checkpoint", run, "--data", shards, "--json")
        XCTAssertEqual(a.0, 0, a.2); XCTAssertEqual(b.0, 0, b.2)
        XCTAssertEqual(a.1.split(separator: "\n").last, b.1.split(separator: "\n").last)

        let bad = try gpt("prepare", corpus.path, "--tokenizer", "char", "--out", shards, "--format", "llmc")
        XCTAssertEqual(bad.0, 1)
        XCTAssertTrue(bad.2.contains("already holds shards"), bad.2)
    }

    func testHellaSwagAccuracyFollowsItsPerExampleDetails() throws {
        let run = try pretrained()
        let lines = (0..<6).map { i -> String in
            let endings = (0..<4).map { Self.sentences[(i + $0) % Self.sentences.count] }
            let object: [String: Any] = ["ctx": Self.sentences[(i + 3) % Self.sentences.count], "endings": endings, "label": i % 4,
                                         "activity_label": "test"]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let data = try write("hellaswag.jsonl", lines)
        let details = work.appendingPathComponent("details.jsonl").path
        let (status, out, err) = try gpt("eval", "--checkpoint", run, "--task", "hellaswag", "--data", data, "--json",
                                         "--details", details)
        XCTAssertEqual(status, 0, err)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.split(separator: "\n").last!.utf8)) as? [String: Any])
        XCTAssertEqual(result["examples"] as? Int, 6)
        let rows = try String(contentsOfFile: details, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(rows.count, 6)
        func share(_ key: String) -> Double {
            Double(rows.filter { ($0[key] as? Int) == ($0["label"] as? Int) }.count) / 6
        }
        XCTAssertEqual(result["acc"] as? Double, share("prediction"))
        XCTAssertEqual(result["acc_norm"] as? Double, share("prediction_norm"))
        for row in rows {
            let sums = try XCTUnwrap(row["sum_losses"] as? [Double])
            XCTAssertEqual(row["prediction"] as? Int, sums.indices.min { sums[$0] < sums[$1] })
        }

        let broken = try write("broken.jsonl", [lines[0], "{\"ctx\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 5}"])
        let refused = try gpt("eval", "--checkpoint", run, "--task", "hellaswag", "--data", broken)
        XCTAssertEqual(refused.0, 1)
        XCTAssertTrue(refused.2.contains("broken.jsonl:2: \"label\" 5 is not an index of the 2 endings"), refused.2)
    }

    func testDataHellaSwagFetchesFromTheGivenURLAndChecksIt() throws {
        let served = work.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        let good = #"{"ctx": "A man", "endings": ["runs.", "sits.", "eats.", "sleeps."], "label": 1}"# + "\n"
        try good.write(to: served.appendingPathComponent("hellaswag_val.jsonl"), atomically: true, encoding: .utf8)
        try "<html>not found</html>\n".write(to: served.appendingPathComponent("page.html"), atomically: true, encoding: .utf8)
        let (port, server) = try serveDirectory(served)
        defer { server.terminate(); server.waitUntilExit() }

        let out = work.appendingPathComponent("hs.jsonl").path
        let fetched = try gpt("data", "hellaswag", "--url", "http://127.0.0.1:\(port)/hellaswag_val.jsonl", "--out", out)
        XCTAssertEqual(fetched.0, 0, fetched.2)
        XCTAssertEqual(fetched.1, out + "\n")
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), good)

        let other = work.appendingPathComponent("other.jsonl").path
        let wrong = try gpt("data", "hellaswag", "--url", "http://127.0.0.1:\(port)/page.html", "--out", other)
        XCTAssertEqual(wrong.0, 1)
        XCTAssertTrue(wrong.2.contains("page.html:1: not a JSON object"), wrong.2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: other))
        let missing = try gpt("data", "hellaswag", "--url", "http://127.0.0.1:\(port)/nothing.jsonl", "--out", other)
        XCTAssertEqual(missing.0, 1)
        XCTAssertTrue(missing.2.contains("HTTP status 404"), missing.2)
    }
}
