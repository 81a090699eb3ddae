// `DataPreparer` end to end: nanoGPT's Shakespeare counts, streaming in small blocks
// equals encoding whole texts, JSONL documents joined by <|endoftext|>, and errors.
import Foundation
import XCTest
import GPTData
import GPTTokenizer
import GPTTestSupport

final class PrepareTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("prepare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func ids(in directory: URL, _ name: String, dtype: TokenDType) throws -> [Int] {
        let file = try TokenFile(url: directory.appendingPathComponent(name), dtype: dtype)
        return (0..<file.count).map { file[$0] }
    }

    func testShakespeareWithGPT2GivesNanoGPTCounts() throws {
        let input = try SharedData.file("tinyshakespeare.txt")
        let out = directory.appendingPathComponent("gpt2")
        var lastProgress: PrepareProgress?
        let meta = try DataPreparer.prepare(
            inputs: [.textFile(input)], tokenizer: .given(SharedData.gpt2()), outputDirectory: out,
            validationFraction: 0.1, threads: 2, blockSize: 64 << 10) { lastProgress = $0 }
        XCTAssertEqual(meta.trainTokens, 301_966)
        XCTAssertEqual(meta.validationTokens, 36_059)
        XCTAssertEqual(meta.dtype, .uint16)
        XCTAssertEqual(meta.vocabularySize, 50_257)
        XCTAssertEqual(meta.sourceBytes, 1_115_394)
        XCTAssertEqual(meta.sourceSHA256, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
        XCTAssertEqual(lastProgress?.bytesDone, 1_115_394)

        let dataset = try PreparedDataset(directory: out)
        XCTAssertEqual(dataset.meta, meta)
        XCTAssertEqual(dataset.train.count, 301_966)
        let text = try String(contentsOf: input, encoding: .utf8)
        let trainIDs = try ids(in: out, DataPreparer.trainFileName, dtype: .uint16)
        XCTAssertEqual(trainIDs, try dataset.tokenizer.encode(String(text.prefix(1_003_854))))
    }

    func testShakespeareWithCharactersGivesNanoGPTCharCounts() throws {
        let out = directory.appendingPathComponent("char")
        let meta = try DataPreparer.prepare(
            inputs: [.textFile(SharedData.file("tinyshakespeare.txt"))], tokenizer: .characters, outputDirectory: out)
        XCTAssertEqual(meta.vocabularySize, 65)
        XCTAssertEqual(meta.trainTokens, 1_003_854)
        XCTAssertEqual(meta.validationTokens, 111_540)
        let dataset = try PreparedDataset(directory: out)
        XCTAssertEqual(try dataset.tokenizer.decode(Array(try ids(in: out, "val.bin", dtype: .uint16).prefix(5))), "?\n\nGR")
    }

    func testSmallBlocksAndManyThreadsEqualWholeDocumentEncoding() throws {
        let tokenizer = try SharedData.gpt2()
        let text = String(try String(contentsOf: SharedData.file("gutenberg-selections.txt"), encoding: .utf8).prefix(400_000))
        let first = directory.appendingPathComponent("a.txt"), second = directory.appendingPathComponent("b.txt")
        try text.write(to: first, atomically: true, encoding: .utf8)
        try "A second document.\n".write(to: second, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("out")
        let meta = try DataPreparer.prepare(
            inputs: [.textFile(first), .textFile(second)], tokenizer: .given(tokenizer), outputDirectory: out,
            validationFraction: 0, threads: 3, blockSize: 4_096)
        let expected = try tokenizer.encode(text) + [50_256] + tokenizer.encode("A second document.\n")
        XCTAssertEqual(try ids(in: out, "train.bin", dtype: .uint16), expected)
        XCTAssertEqual(meta.validationTokens, 0)
        XCTAssertEqual(meta.documents, 2)
    }

    func testJSONLinesDocumentsAreJoinedByEndOfText() throws {
        let tokenizer = try SharedData.gpt2()
        let input = directory.appendingPathComponent("docs.jsonl")
        try "{\"text\": \"First doc.\", \"label\": 1}\n\n{\"text\": \"Second \\u00e9!\"}\n{\"text\": \"Third\"}"
            .write(to: input, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("out")
        let meta = try DataPreparer.prepare(inputs: try CorpusInput.resolve([directory.path]), tokenizer: .given(tokenizer),
                                            outputDirectory: out, validationFraction: 0)
        let expected = try tokenizer.encode("First doc.") + [50_256] + tokenizer.encode("Second \u{00E9}!")
            + [50_256] + tokenizer.encode("Third")
        XCTAssertEqual(try ids(in: out, "train.bin", dtype: .uint16), expected)
        XCTAssertEqual(meta.documents, 3)
        XCTAssertEqual(meta.sourceBytes, "First doc.Second \u{00E9}!Third".utf8.count)
    }

    func testErrors() throws {
        let empty = directory.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        let out = directory.appendingPathComponent("out")
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(empty)], tokenizer: .characters, outputDirectory: out)) {
            XCTAssertEqual($0 as? DataError, .emptyCorpus)
        }
        if let gpt2 = try? SharedData.gpt2() {   // the BPE path too, when the shared data is there
            XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(empty)], tokenizer: .given(gpt2),
                                                          outputDirectory: out)) {
                XCTAssertEqual($0 as? DataError, .emptyCorpus)
            }
        }
        let text = directory.appendingPathComponent("ok.txt")
        try "text".write(to: text, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(text)], tokenizer: .characters, outputDirectory: out,
                                                      validationFraction: 1)) {
            XCTAssertEqual($0 as? DataError, .invalidValidationFraction(1))
        }
        let binary = directory.appendingPathComponent("binary.txt")
        try Data([0x61, 0x62, 0xC3, 0x28]).write(to: binary)
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(binary)], tokenizer: .characters, outputDirectory: out)) {
            XCTAssertEqual($0 as? TokenizerError, .invalidUTF8(path: binary.path, byteOffset: 2))
        }
        let badJSON = directory.appendingPathComponent("bad.jsonl")
        try "{\"text\": \"ok\"}\n{\"body\": \"no text field\"}\n".write(to: badJSON, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.jsonLines(badJSON)], tokenizer: .characters, outputDirectory: out)) {
            XCTAssertEqual($0 as? DataError, .malformedJSONLine(path: badJSON.path, line: 2,
                                                                reason: "expected an object with a string field \"text\""))
        }
        let missing = directory.appendingPathComponent("vanished.txt")
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(missing)], tokenizer: .characters, outputDirectory: out)) {
            guard case .unreadableInput(let path, _)? = $0 as? DataError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, missing.path)
        }
        XCTAssertThrowsError(try CorpusInput.resolve([directory.appendingPathComponent("missing").path])) {
            guard case .unreadableInput? = $0 as? DataError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try CorpusInput.resolve([])) { XCTAssertEqual($0 as? DataError, .noInputs) }
    }
}
