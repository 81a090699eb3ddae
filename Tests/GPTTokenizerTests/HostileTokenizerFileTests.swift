// Issue 12 #7, #13, #16, #18: out-of-range ids, huge training vocabularies, CRLF files,
// merges that do not reproduce their vocabulary, and unverified GPT-2 rank files each
// give a clear error (or the right ids), never a trap or silently wrong ids.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class HostileTokenizerFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func write(_ name: String, _ contents: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(contents.utf8).write(to: url)
        return url
    }

    private func assertError(_ expected: TokenizerError, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, "message: \(error)", line: line)
        }
    }

    /// A small tokenizer trained on a fixed text, for building valid files of every format.
    private func trained() throws -> BytePairTokenizer {
        try BPETrainer.train(counts: counts(of: String(repeating: "the cat sat on the mat with the hat. ", count: 40)),
                             vocabularySize: 300)
    }

    private func counts(of text: String) -> ChunkCounter {
        var counts = ChunkCounter()
        var text = text
        text.withUTF8 { counts.add($0) }
        return counts
    }

    private func rankLines(count: Int = 256) -> [String] {
        // The 256 single bytes, then distinct two-byte tokens.
        (0..<count).map { id in
            let bytes = id < 256 ? [UInt8(id)] : [UInt8(id % 256), UInt8(id / 256)]
            return "\(Data(bytes).base64EncodedString()) \(id)"
        }
    }

    // MARK: #7 token ids

    func testSpecialTokenIdOfInt64MaxInTokenizerFileIsRefusedByNameAndId() throws {
        let tokens = (0..<256).map { "\"\(Data([UInt8($0)]).base64EncodedString())\"" }.joined(separator: ",")
        for id in ["9223372036854775807", "2147483647", "-1"] {
            let url = try write("gpt-tokenizer.json", """
                {"format":"swift-gpt-tokenizer","version":1,"type":"bpe","name":"x","pattern":"gpt2",
                 "tokens":[\(tokens)],"special_tokens":{"<|endoftext|>":\(id)}}
                """)
            assertError(.malformedVocabulary(path: url.path, reason: "special token <|endoftext|> has id \(id), "
                                                + "outside 0..<2147483647 (ids are stored as Int32)")) {
                _ = try TokenizerLoader.load(url.path)
            }
        }
    }

    func testSpecialTokenIdOfInt64MaxInVocabJSONIsRefusedByNameAndId() throws {
        let tokenizer = try trained()
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try VocabMergesFiles.write(tokenizer, vocabulary: vocab, merges: merges)
        let text = try String(contentsOf: vocab, encoding: .utf8)
            .replacingOccurrences(of: "\"<|endoftext|>\":\(tokenizer.endOfTextID!)", with: "\"<|endoftext|>\":9223372036854775807")
        try Data(text.utf8).write(to: vocab)
        assertError(.malformedVocabulary(path: vocab.path, reason: "token '<|endoftext|>' has id 9223372036854775807, "
                                            + "outside 0..<2147483647 (ids are stored as Int32)")) {
            _ = try VocabMergesFiles.load(vocabulary: vocab, merges: merges)
        }
    }

    func testRankPastTheIdLimitInTiktokenFileIsRefusedWithItsLine() throws {
        let url = try write("big.tiktoken", (rankLines() + ["YWI= 9223372036854775807"]).joined(separator: "\n"))
        assertError(.malformedLine(path: url.path, line: 257,
                                   reason: "rank 9223372036854775807 is outside 0..<2147483647 (ids are stored as Int32)")) {
            _ = try TiktokenRankFile.load(url)
        }
    }

    // MARK: #13 training vocabulary size

    func testBillionTokenVocabularyOnSmallTextStopsWhenNoPairIsLeftWithoutPreallocating() throws {
        let counts = counts(of: (0..<2_000).map { "w\($0 % 97) " }.joined())   // about 10 KB
        let start = Date()
        let report = try BPETrainer.trainReporting(counts: counts, vocabularySize: 1_000_000_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssert(report.stoppedEarly)
        XCTAssertEqual(report.requestedMerges, 1_000_000_000 - 257)
        XCTAssertEqual(report.tokenizer.ordinaryTokenCount, 256 + report.merges)
        XCTAssertEqual(report.summary, "stopped at \(report.merges) merges of 999999743 requested: no pairs left")
    }

    func testVocabularySizeOfInt64MaxIsRefused() {
        let counts = counts(of: "abc abc")
        assertError(.vocabularyTooLarge(requested: Int.max, maximum: 2_147_483_647)) {
            _ = try BPETrainer.train(counts: counts, vocabularySize: Int.max)
        }
    }

    // MARK: #16 CRLF and merges that do not reproduce the vocabulary

    private func crlf(_ url: URL) throws -> URL {
        let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
        let out = url.deletingLastPathComponent().appendingPathComponent("crlf-" + url.lastPathComponent)
        try Data(text.utf8).write(to: out)
        return out
    }

    func testCRLFMergesVocabAndRankFilesGiveTheSameIdsAsLF() throws {
        let tokenizer = try trained()
        let sample = "the cat sat on the hat"
        let expected = tokenizer.encode(sample, allowedSpecial: [])
        XCTAssertLessThan(expected.count, sample.utf8.count, "the sample must use merges")
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try VocabMergesFiles.write(tokenizer, vocabulary: vocab, merges: merges)
        let fromCRLF = try VocabMergesFiles.load(vocabulary: try crlf(vocab), merges: try crlf(merges))
        XCTAssertEqual(fromCRLF.encode(sample, allowedSpecial: []), expected)
        let ranks = directory.appendingPathComponent("t.tiktoken")
        try TiktokenRankFile.write(tokenizer, to: ranks)
        XCTAssertEqual(try TiktokenRankFile.load(try crlf(ranks)).encode(sample, allowedSpecial: []), expected)
    }

    func testGPT2CRLFMergesGiveTiktokenIdsForHelloWorld() throws {
        let vocab = try SharedData.file("gpt2-vocab.json"), merges = try SharedData.file("gpt2-merges.txt")
        let copy = directory.appendingPathComponent("merges.txt")
        try FileManager.default.copyItem(at: merges, to: copy)
        let tokenizer = try VocabMergesFiles.load(vocabulary: vocab, merges: try crlf(copy))
        XCTAssertEqual(try tokenizer.encode("Hello, world!"), [15496, 11, 995, 0])
    }

    func testTruncatedMergesAreRefusedAsNotReproducingTheVocabulary() throws {
        let tokenizer = try trained()
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try VocabMergesFiles.write(tokenizer, vocabulary: vocab, merges: merges)
        let lines = try String(contentsOf: merges, encoding: .utf8).split(separator: "\n")
        try Data((lines.prefix(lines.count - 3).joined(separator: "\n") + "\n").utf8).write(to: merges)
        XCTAssertThrowsError(try VocabMergesFiles.load(vocabulary: vocab, merges: merges)) { error in
            guard case let .malformedVocabulary(path, reason) = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, vocab.path)
            XCTAssert(reason.hasPrefix("3 entries (the first "), reason)
            XCTAssert(reason.hasSuffix("the merges do not reproduce the vocabulary"), reason)
        }
    }

    // MARK: #18 unverified GPT-2 files

    /// Runs `body` with the environment variables set (nil: unset), restoring them after.
    private func withEnvironment(_ values: [String: String?], _ body: () throws -> Void) rethrows {
        let saved = values.keys.map { ($0, ProcessInfo.processInfo.environment[$0]) }
        defer { for (key, value) in saved { if let value { setenv(key, value, 1) } else { unsetenv(key) } } }
        for (key, value) in values { if let value { setenv(key, value, 1) } else { unsetenv(key) } }
        try body()
    }

    func testTruncatedGPT2TokenizerFileIsRefusedWithItsRankCount() throws {
        let url = try write("gpt2.tiktoken", rankLines(count: 300).joined(separator: "\n") + "\n")
        withEnvironment(["GPT2_TOKENIZER_FILE": url.path]) {
            assertError(.malformedVocabulary(path: url.path, reason: "has 300 ranks, GPT-2 has 50256 "
                                                + "(256 bytes and 50,000 merges): the file is truncated or not GPT-2's")) {
                _ = try TokenizerLoader.load("gpt2")
            }
        }
    }

    func testTruncatedGPT2CacheIsRefusedByItsSHA256() throws {
        let cache = directory.appendingPathComponent("swift-gpt")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let cached = cache.appendingPathComponent("gpt2.tiktoken")
        try Data((rankLines().joined(separator: "\n") + "\n").utf8).write(to: cached)
        try withEnvironment(["GPT2_TOKENIZER_FILE": nil, "XDG_CACHE_HOME": directory.path]) {
            XCTAssertThrowsError(try TokenizerLoader.load("gpt2")) { error in
                guard case let .malformedVocabulary(path, reason) = error as? TokenizerError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, cached.path)
                XCTAssert(reason.contains("not the pinned \(TokenizerLoader.gpt2SHA256)"), reason)
            }
        }
    }

    func testIntactGPT2CacheLoads() throws {
        let real = try SharedData.file("gpt2.tiktoken")
        let cache = directory.appendingPathComponent("swift-gpt")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: real, to: cache.appendingPathComponent("gpt2.tiktoken"))
        try withEnvironment(["GPT2_TOKENIZER_FILE": nil, "XDG_CACHE_HOME": directory.path]) {
            let tokenizer = try TokenizerLoader.load("gpt2")
            XCTAssertEqual(try tokenizer.encode("Hello, world!"), [15496, 11, 995, 0])
        }
    }
}
