// The three ways to load GPT-2's ranks agree, and our tokenizer file round-trips.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class FileFormatTests: XCTestCase {
    func testVocabJSONAndMergesGiveTheSameTokenizer() throws {
        let fromRanks = try SharedData.gpt2()
        let fromVocab = try VocabMergesFiles.load(vocabulary: SharedData.file("gpt2-vocab.json"),
                                                  merges: SharedData.file("gpt2-merges.txt"))
        XCTAssertEqual(fromVocab.vocabularySize, 50_257)
        XCTAssertEqual(fromVocab.specialTokens, [BytePairTokenizer.endOfText: 50_256])
        for id in stride(from: 0, to: 50_257, by: 1) where fromVocab.bytes(of: id) != fromRanks.bytes(of: id) {
            XCTFail("token \(id) differs")
            break
        }
        let vectors = try JSONDecoder().decode([TokenizerVector].self, from: Data(contentsOf: SharedData.file("gpt2-tokenizer-vectors.json")))
        for vector in vectors { XCTAssertEqual(try fromVocab.encode(vector.text), vector.ids) }
    }

    func testTokenizerFileRoundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let gpt2 = try SharedData.gpt2()
        let bpeURL = directory.appendingPathComponent("bpe.json")
        try TokenizerFile.write(gpt2, to: bpeURL)
        let reloaded = try XCTUnwrap(try TokenizerLoader.load(bpeURL.path) as? BytePairTokenizer)
        XCTAssertEqual(reloaded.vocabularySize, gpt2.vocabularySize)
        XCTAssertEqual(reloaded.specialTokens, gpt2.specialTokens)
        let text = "Tokenizer files keep every rank: \u{1F600} 12345"
        XCTAssertEqual(try reloaded.encode(text), try gpt2.encode(text))

        let char = CharTokenizer(characters: "abc \n\u{00E9}\u{0000}".unicodeScalars)
        let charURL = directory.appendingPathComponent(TokenizerFile.defaultFileName)
        try TokenizerFile.write(char, to: charURL)
        let charReloaded = try XCTUnwrap(try TokenizerLoader.load(directory.path) as? CharTokenizer)
        XCTAssertEqual(charReloaded.characters, char.characters)

        let tiktokenURL = directory.appendingPathComponent("copy.tiktoken")
        try TiktokenRankFile.write(gpt2, to: tiktokenURL)
        XCTAssertEqual(try Data(contentsOf: tiktokenURL), try Data(contentsOf: SharedData.file("gpt2.tiktoken")))
    }

    func testExportedVocabAndMergesMatchGPT2Files() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try VocabMergesFiles.write(try SharedData.gpt2(), vocabulary: vocab, merges: merges)
        XCTAssertEqual(try Data(contentsOf: merges), try Data(contentsOf: SharedData.file("gpt2-merges.txt")))
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: vocab)) as? [String: Int]
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: SharedData.file("gpt2-vocab.json"))) as? [String: Int]
        XCTAssertEqual(written, original)
    }
}
