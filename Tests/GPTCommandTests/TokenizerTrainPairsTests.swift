// `gpt tokenizer train --pairs FILE.jsonl`: one joint BPE from both sides of a pairs file.
import Foundation
import GPTTestSupport
import XCTest

final class TokenizerTrainPairsTests: XCTestCase {
    private func gpt(_ arguments: String...) throws -> (status: Int32, out: String, err: String) {
        try GPTBinary.run(arguments)
    }

    func testTrainsOneVocabularyOnBothSidesOfAPairsFile() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tok-pairs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let pairs = work.appendingPathComponent("pairs.jsonl"), tok = work.appendingPathComponent("joint.json")
        let lines = (0..<20).map { i in #"{"source": "the morning of day \#(i)", "target": "la mañana del día \#(i)", "ref": "x"}"# }
        try Data(lines.joined(separator: "\n").utf8).write(to: pairs)
        let trained = try gpt("tokenizer", "train", "--pairs", pairs.path, "--vocab-size", "300", "--out", tok.path)
        XCTAssertEqual(trained.status, 0, trained.err)
        for word in [" morning", " mañana"] {
            let counted = try gpt("tokenizer", "encode", "--tokenizer", tok.path, word, "--count")
            XCTAssertEqual(counted.status, 0, counted.err)
            let count = try XCTUnwrap(Int(counted.out.trimmingCharacters(in: .whitespacesAndNewlines)), counted.out)
            XCTAssertLessThan(count, word.utf8.count / 2, "\(word) is learned from its side of the pairs")
        }
        let none = try gpt("tokenizer", "train", "--vocab-size", "300", "--out", tok.path)
        XCTAssertNotEqual(none.status, 0)
        XCTAssert(none.err.contains("give INPUT files or --pairs FILE.jsonl"), none.err)
        let bad = work.appendingPathComponent("bad.jsonl")
        try Data(#"{"source": "a"}"#.utf8).write(to: bad)
        let refused = try gpt("tokenizer", "train", "--pairs", bad.path, "--vocab-size", "300", "--out", tok.path)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.err.contains("bad.jsonl:1: expected an object with string fields \"source\" and \"target\""), refused.err)
    }
}
