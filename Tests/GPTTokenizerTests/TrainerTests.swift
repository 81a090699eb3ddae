// BPE training: deterministic, round-trips, reproduces its own merges on export,
// and (where Python `tokenizers` is installed) the exported vocab.json + merges.txt
// give Hugging Face the same ids.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class TrainerTests: XCTestCase {
    private func counts(of text: String) -> ChunkCounter {
        var counter = ChunkCounter()
        var text = text
        text.withUTF8 { counter.add($0) }
        return counter
    }

    func testSmallCorpusMergesTheMostFrequentPairFirst() throws {
        let tokenizer = try BPETrainer.train(counts: counts(of: "aaab aaab aaab"), vocabularySize: 259, specialTokens: ["<|endoftext|>"])
        XCTAssertEqual(tokenizer.vocabularySize, 259)
        // Chunks "aaab" x1 and " aaab" x2: "aa" occurs 6 times, "ab" 3, " a" 2, so "aa" is merged first.
        XCTAssertEqual(tokenizer.bytes(of: 256), Array("aa".utf8))
        XCTAssertEqual(tokenizer.specialTokens, ["<|endoftext|>": 258])
    }

    func testTrainingOnShakespeareIsDeterministicAndRoundTrips() throws {
        let text = try String(contentsOf: SharedData.file("tinyshakespeare.txt"), encoding: .utf8)
        let chunkCounts = counts(of: text)
        var reported = 0
        let first = try BPETrainer.train(counts: chunkCounts, vocabularySize: 1_000) { done, total in
            XCTAssertEqual(total, 1_000 - 257)
            reported = done
        }
        XCTAssertEqual(reported, 1_000 - 257)
        let second = try BPETrainer.train(counts: counts(of: text), vocabularySize: 1_000)
        XCTAssertEqual((0..<1_000).map { first.bytes(of: $0) }, (0..<1_000).map { second.bytes(of: $0) })

        let sample = String(text.prefix(20_000))
        let ids = try first.encode(sample)
        XCTAssertLessThan(ids.count, sample.utf8.count / 2, "a 1,000-token vocabulary should at least halve the length")
        XCTAssertEqual(try first.decode(ids), sample)

        // Counting in parallel pieces (cut at safe points) gives the same counts, hence the same vocabulary.
        var merged = ChunkCounter()
        var bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let cut = GPT2TextSplitter.safeCut(in: buffer, atOrBefore: start + 100_000, after: start) ?? buffer.count
                var part = ChunkCounter()
                part.add(UnsafeBufferPointer(rebasing: buffer[start..<cut]))
                merged.merge(part)
                start = cut
            }
        }
        bytes.removeAll()
        XCTAssertEqual(merged.distinctChunks, chunkCounts.distinctChunks)
        let third = try BPETrainer.train(counts: merged, vocabularySize: 1_000)
        XCTAssertEqual((0..<1_000).map { third.bytes(of: $0) }, (0..<1_000).map { first.bytes(of: $0) })
    }

    func testExportReloadsAndMatchesHuggingFaceTokenizers() throws {
        let text = try String(contentsOf: SharedData.file("tinyshakespeare.txt"), encoding: .utf8)
        let tokenizer = try BPETrainer.train(counts: counts(of: text), vocabularySize: 2_000)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try VocabMergesFiles.write(tokenizer, vocabulary: vocab, merges: merges)

        let reloaded = try VocabMergesFiles.load(vocabulary: vocab, merges: merges)
        let sample = String(text.suffix(30_000)) + " unseen words: Zyzzyva, 2024, \u{00E9}t\u{00E9}, \u{1F600}"
        let ids = try tokenizer.encode(sample)
        XCTAssertEqual(try reloaded.encode(sample), ids)

        let sampleURL = directory.appendingPathComponent("sample.txt")
        try sample.write(to: sampleURL, atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            from tokenizers import Tokenizer, models, pre_tokenizers, decoders
            t = Tokenizer(models.BPE.from_file(sys.argv[1], sys.argv[2]))
            t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            t.decoder = decoders.ByteLevel()
            print(json.dumps(t.encode(open(sys.argv[3], encoding="utf-8").read()).ids))
            """
        // Skip only where `tokenizers` cannot be imported; once it can, any failure of the script is a failure.
        guard try python(["-c", "import tokenizers"], errors: directory.appendingPathComponent("probe.err")).status == 0 else {
            throw XCTSkip("Python `tokenizers` is not installed: Hugging Face comparison skipped")
        }
        let errors = directory.appendingPathComponent("script.err")
        let (status, data) = try python(["-c", script, vocab.path, merges.path, sampleURL.path], errors: errors)
        guard status == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            return XCTFail("the Hugging Face tokenizers script failed with status \(status): \(message.suffix(2_000))")
        }
        let huggingFace = try JSONDecoder().decode([Int].self, from: data)
        XCTAssertEqual(huggingFace.count, ids.count)
        XCTAssertEqual(huggingFace, ids, "Hugging Face tokenizers gives other ids for the exported files")
    }

    /// Runs python3 with `arguments`; standard error goes to the file `errors` (so neither pipe can fill
    /// and block), standard output is returned.
    private func python(_ arguments: [String], errors: URL) throws -> (status: Int32, output: Data) {
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: errors)
        defer { try? errorHandle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errorHandle
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }
}
