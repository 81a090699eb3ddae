// Each kind of bad input is a typed error that names what is wrong and where.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class BadInputTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func file(_ name: String, _ contents: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A rank file with the 256 single bytes, then `extra` lines.
    private func rankFile(extra: [String]) -> String {
        let bytes = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        return (bytes + extra).joined(separator: "\n") + "\n"
    }

    private func assertError(_ expected: TokenizerError, _ body: () throws -> Void, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, "message: \(error)", line: line)
        }
    }

    func testRankFileWithBadBase64() throws {
        let url = try file("bad.tiktoken", rankFile(extra: ["not*base64 256"]))
        assertError(.malformedLine(path: url.path, line: 257, reason: "'not*base64' is not a non-empty base64 token")) {
            _ = try TiktokenRankFile.load(url)
        }
    }

    func testRankFileWithDuplicateRank() throws {
        let url = try file("duplicate.tiktoken", rankFile(extra: ["YWI= 256", "YWJj 256"]))
        assertError(.malformedLine(path: url.path, line: 258, reason: "duplicate rank 256")) {
            _ = try TiktokenRankFile.load(url)
        }
    }

    func testRankFileWithGap() throws {
        let url = try file("gap.tiktoken", rankFile(extra: ["YWI= 257"]))
        assertError(.malformedVocabulary(path: url.path, reason: "rank 256 is missing (ranks must run 0..<257 without gaps)")) {
            _ = try TiktokenRankFile.load(url)
        }
    }

    func testRankFileWithMissingByte() throws {
        let lines = (1..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0 - 1)" }
        let url = try file("nobyte.tiktoken", lines.joined(separator: "\n"))
        assertError(.malformedVocabulary(path: url.path, reason: "byte 0 has no token (a byte-level BPE needs all 256)")) {
            _ = try TiktokenRankFile.load(url)
        }
    }

    func testMergesNamingAnUnknownToken() throws {
        let vocab = try file("vocab.json", "{\"a\": 0}")
        let merges = try file("merges.txt", "#version: 0.2\na b\n")
        assertError(.malformedLine(path: merges.path, line: 2, reason: "'b' is not a token of vocab.json")) {
            _ = try VocabMergesFiles.load(vocabulary: vocab, merges: merges)
        }
    }

    func testVocabularyBelow256() {
        assertError(.vocabularyTooSmall(requested: 200, minimum: 257)) {
            var counts = ChunkCounter()
            Array("some text".utf8).withUnsafeBufferPointer { counts.add($0) }
            _ = try BPETrainer.train(counts: counts, vocabularySize: 200)
        }
    }

    func testEmptyCorpus() {
        assertError(.emptyCorpus) { _ = try BPETrainer.train(counts: ChunkCounter(), vocabularySize: 300) }
    }

    func testUnknownCharacterNamesItAndItsPosition() {
        let tokenizer = CharTokenizer(characters: "abc ".unicodeScalars)
        assertError(.unknownCharacter(character: "\u{00E9}", position: 3)) { _ = try tokenizer.encode("ab \u{00E9}c") }
        XCTAssertEqual(TokenizerError.unknownCharacter(character: "\u{00E9}", position: 3).description,
                       "character \\u{00E9} (U+E9) at position 3 is not in the character vocabulary")
    }

    func testNonUTF8ForCharacterInventory() throws {
        var inventory = CharacterInventory(source: "corpus.txt")
        let bytes: [UInt8] = Array("fine text ".utf8) + [0xFF] + Array(" more".utf8)
        assertError(.invalidUTF8(path: "corpus.txt", byteOffset: 10)) {
            try bytes.withUnsafeBufferPointer { try inventory.add($0) }
        }
    }

    func testPartialCharacterAcrossPiecesIsFineButDanglingIsNot() throws {
        var inventory = CharacterInventory(source: "corpus.txt")
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        try Array(euro[..<1]).withUnsafeBufferPointer { try inventory.add($0) }
        try Array(euro[1...]).withUnsafeBufferPointer { try inventory.add($0) }
        XCTAssertEqual(inventory.scalars, ["\u{20AC}"])
        try [UInt8]([0xE2]).withUnsafeBufferPointer { try inventory.add($0) }
        assertError(.invalidUTF8(path: "corpus.txt", byteOffset: 3)) { try inventory.finishSource() }
    }

    func testUnreadableFile() {
        let missing = directory.appendingPathComponent("missing.tiktoken")
        XCTAssertThrowsError(try TiktokenRankFile.load(missing)) { error in
            guard case .unreadableFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, missing.path)
        }
        XCTAssertThrowsError(try TokenizerLoader.load(missing.path)) { error in
            guard case .unknownTokenizer? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
    }

    func testUnknownTokenID() throws {
        let tokenizer = try SharedData.gpt2()
        assertError(.unknownTokenID(id: 50_257, vocabularySize: 50_257)) { _ = try tokenizer.decode([1, 50_257]) }
        assertError(.unknownTokenID(id: -1, vocabularySize: 50_257)) { _ = try tokenizer.decode([-1]) }
    }
}
