// Fuzz test of the tokenizer-file readers (issue 12, Tests): a few hundred mutations
// each of a valid .tiktoken file, vocab.json + merges.txt, and gpt-tokenizer.json, with
// a fixed seed. Each must load or throw a TokenizerError, never crash; whatever loads
// must encode and decode a sample.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class TokenizerFileFuzzTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func trained() throws -> BytePairTokenizer {
        var counts = ChunkCounter()
        var text = String(repeating: "the cat sat on the mat; 42 hats, 7 mats! ", count: 30)
        text.withUTF8 { counts.add($0) }
        return try BPETrainer.train(counts: counts, vocabularySize: 300)
    }

    /// Mutates the file `name` (others in the directory stay valid) `rounds` times and loads `spec` each time.
    private func fuzz(_ name: String, spec: String, rounds: Int, seed: UInt64) throws {
        let url = directory.appendingPathComponent(name)
        let valid = [UInt8](try Data(contentsOf: url))
        var mutator = ByteMutator(seed: seed)
        var loaded = 0
        for round in 0..<rounds {
            try Data(mutator.mutate(valid)).write(to: url)
            do {
                let tokenizer = try TokenizerLoader.load(spec)
                let ids = try tokenizer.encode("the cat, 42 mats")
                _ = try tokenizer.decode(ids)
                loaded += 1
            } catch let error as TokenizerError {
                XCTAssertFalse(error.description.isEmpty)
            } catch {
                XCTFail("\(name) round \(round): untyped error \(error)")
            }
        }
        try Data(valid).write(to: url)
        XCTAssertLessThan(loaded, rounds, "\(name): every mutation loaded, the reader checks nothing")
    }

    func testMutatedTokenizerFilesLoadOrThrowTypedErrors() throws {
        let tokenizer = try trained()
        let start = Date()
        try TiktokenRankFile.write(tokenizer, to: directory.appendingPathComponent("ranks.tiktoken"))
        try fuzz("ranks.tiktoken", spec: directory.appendingPathComponent("ranks.tiktoken").path, rounds: 250, seed: 1)

        let vocab = directory.appendingPathComponent("vocab.json")
        try VocabMergesFiles.write(tokenizer, vocabulary: vocab, merges: directory.appendingPathComponent("merges.txt"))
        try fuzz("vocab.json", spec: vocab.path, rounds: 250, seed: 2)
        try fuzz("merges.txt", spec: vocab.path, rounds: 250, seed: 3)

        let own = directory.appendingPathComponent(TokenizerFile.defaultFileName)
        try TokenizerFile.write(tokenizer, to: own)
        try fuzz(TokenizerFile.defaultFileName, spec: own.path, rounds: 250, seed: 4)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }
}
