// `gpt tokenizer train --pairs`: a pairs file reads as its sources and targets, each a document,
// so one BPE learns both languages; malformed lines name file:line.
import Foundation
import XCTest
import GPTData
import GPTTokenizer

final class PairsTokenizerTrainingTests: XCTestCase {
    private func temporaryFile(_ name: String, _ text: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pairs-bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private func json(_ object: [String: String]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func testPairsTrainTheSameJointBPEAsTheirSidesWrittenAsTextDocuments() throws {
        let pairs = [("And God said, Let there be light: and there was light.", "Y dijo Dios: Sea la luz: y fué la luz."),
                     ("And God saw the light, that it was good.", "Y vió Dios que la luz era buena."),
                     ("And the evening and the morning were the first day.", "Y fué la tarde y la mañana un día."),
                     ("mañana mañana mañana", "morning morning morning")]
        let pairsFile = try temporaryFile("pairs.jsonl", try pairs.map { try json(["source": $0.0, "target": $0.1, "ref": "x"]) }
            .joined(separator: "\n") + "\n")
        let textFile = try temporaryFile("text.jsonl", try pairs.flatMap { [try json(["text": $0.0]), try json(["text": $0.1])] }
            .joined(separator: "\n"))
        let fromPairs = try BPETrainer.train(counts: CorpusChunkCounting.count(inputs: CorpusInput.resolvePairs([pairsFile.path]),
                                                                               threads: 2), vocabularySize: 300)
        let fromText = try BPETrainer.train(counts: CorpusChunkCounting.count(inputs: [.jsonLines(textFile)], threads: 2),
                                            vocabularySize: 300)
        XCTAssertEqual(fromPairs.vocabularySize, fromText.vocabularySize)
        for sample in ["Y dijo Dios: mañana la luz", "And God said morning light", "día first"] {
            XCTAssertEqual(try fromPairs.encode(sample), try fromText.encode(sample), sample)
        }
        // Both languages are in the vocabulary: each side's repeated word is a few tokens, not its bytes.
        XCTAssertLessThan(try fromPairs.encode(" mañana").count, " mañana".utf8.count / 2)
        XCTAssertLessThan(try fromPairs.encode(" morning").count, " morning".utf8.count / 2)
    }

    func testAPairsLineWithoutBothStringFieldsIsAnErrorNamingFileAndLine() throws {
        let file = try temporaryFile("bad.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\", \"text\": \"b\"}\n")
        XCTAssertThrowsError(try CorpusChunkCounting.count(inputs: CorpusInput.resolvePairs([file.path]), threads: 1)) {
            XCTAssertEqual($0 as? DataError, .malformedJSONLine(path: file.path, line: 2,
                                                                reason: "expected an object with string fields \"source\" and \"target\""))
        }
        XCTAssertThrowsError(try CorpusInput.resolvePairs(["/nonexistent/pairs.jsonl"])) {
            XCTAssertEqual("\($0)", "cannot read /nonexistent/pairs.jsonl: no such file or directory")
        }
    }
}
