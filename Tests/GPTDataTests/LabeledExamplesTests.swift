// `LabeledExamples`: JSON Lines and CSV/TSV labeled data, the label order, every
// error naming its line, and the shared sentiment files.
import Foundation
import XCTest
import GPTData
import GPTTestSupport

final class LabeledExamplesTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("labeled-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `contents` to `name` in the test directory and reads it back.
    private func read(_ name: String, _ contents: String) throws -> [LabeledExample] {
        try LabeledExamples.read(write(name, Data(contents.utf8)))
    }

    private func write(_ name: String, _ data: Data) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// The error reading `contents` as `name` throws, after checking its message names the file.
    private func readError(_ name: String, _ contents: String,
                       file: StaticString = #filePath, line: UInt = #line) throws -> LabeledDataError? {
        let url = try write(name, Data(contents.utf8))
        do {
            let examples = try LabeledExamples.read(url)
            XCTFail("expected an error, read \(examples)", file: file, line: line)
            return nil
        } catch let error as LabeledDataError {
            XCTAssertTrue(error.description.contains(url.path), "\(error) does not name the file", file: file, line: line)
            return error
        }
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    // MARK: - JSON Lines

    /// Texts to classify may come without labels; a label that is there is still checked.
    func testTextsWithoutLabelsReadWhenLabelsAreNotRequired() throws {
        let jsonl = try write("texts.jsonl", Data("{\"text\": \"good film\"}\n{\"text\": \"dull\", \"label\": 0}\n".utf8))
        XCTAssertEqual(try LabeledExamples.read(jsonl, requireLabels: false).map(\.text), ["good film", "dull"])
        XCTAssertThrowsError(try LabeledExamples.read(jsonl)) {
            XCTAssertEqual($0 as? LabeledDataError, .missingLabel(path: jsonl.path, line: 1))
        }
        let csv = try write("texts.csv", Data("id,text\n1,\"a, b\"\n".utf8))
        XCTAssertEqual(try LabeledExamples.read(csv, requireLabels: false).map(\.text), ["a, b"])
        let empty = try write("empty.jsonl", Data("{\"text\": \"ok\", \"label\": \" \"}\n".utf8))
        XCTAssertThrowsError(try LabeledExamples.read(empty, requireLabels: false))
    }


    func testJSONLinesReadsStringAndIntegerLabelsAndIgnoresOtherKeys() throws {
        let examples = try read("a.jsonl", """
            {"text": "good film", "label": 1, "id": 7}
            {"text": "bad film", "label": "negative"}
            {"label": -3, "text": " spaced  "}
            """)
        XCTAssertEqual(examples, [
            LabeledExample(text: "good film", label: "1", line: 1),
            LabeledExample(text: "bad film", label: "negative", line: 2),
            LabeledExample(text: " spaced  ", label: "-3", line: 3),
        ])
    }

    func testJSONLinesAcceptsIntegralFloatLabelAsInteger() throws {
        let examples = try read("a.jsonl", #"{"text": "x", "label": 1.0}"# + "\n" + #"{"text": "y", "label": 2e1}"#)
        XCTAssertEqual(examples.map(\.label), ["1", "20"])
    }

    func testJSONLinesSkipsBlankLinesButCountsThem() throws {
        let examples = try read("a.ndjson", "\n  \t\n{\"text\": \"x\", \"label\": 0}\r\n\r\n{\"text\": \"y\", \"label\": 1}\n\n")
        XCTAssertEqual(examples, [LabeledExample(text: "x", label: "0", line: 3), LabeledExample(text: "y", label: "1", line: 5)])
    }

    func testJSONLinesRejectsBooleanLabel() throws {
        let name = "a.jsonl"
        XCTAssertEqual(try readError(name, "{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"x\", \"label\": true}"),
                       .wrongLabelType(path: path(name), line: 2, found: "a boolean"))
    }

    func testJSONLinesRejectsNullArrayAndNonIntegralLabels() throws {
        let name = "a.jsonl"
        XCTAssertEqual(try readError(name, #"{"text": "x", "label": null}"#), .wrongLabelType(path: path(name), line: 1, found: "null"))
        XCTAssertEqual(try readError(name, #"{"text": "x", "label": [1]}"#), .wrongLabelType(path: path(name), line: 1, found: "an array"))
        XCTAssertEqual(try readError(name, #"{"text": "x", "label": 1.5}"#),
                       .wrongLabelType(path: path(name), line: 1, found: "the number 1.5"))
    }

    func testJSONLinesErrorsNameTheLine() throws {
        let name = "train.jsonl"
        let good = #"{"text": "fine", "label": 1}"# + "\n"
        XCTAssertEqual(try readError(name, good + "{\"text\": \"x\", \"label\": 1"), .invalidJSON(path: path(name), line: 2))
        XCTAssertEqual(try readError(name, good + good + "[1, 2]"), .notAnObject(path: path(name), line: 3))
        XCTAssertEqual(try readError(name, good + #"{"label": 1}"#), .missingText(path: path(name), line: 2))
        XCTAssertEqual(try readError(name, good + #"{"text": 5, "label": 1}"#),
                       .textNotString(path: path(name), line: 2, found: "a number"))
        XCTAssertEqual(try readError(name, good + "\n" + #"{"text": "x"}"#), .missingLabel(path: path(name), line: 3))
        XCTAssertEqual(try readError(name, good + #"{"text": " \t", "label": 1}"#), .emptyText(path: path(name), line: 2))
        XCTAssertEqual(try readError(name, good + #"{"text": "x", "label": ""}"#), .emptyLabel(path: path(name), line: 2))
    }

    func testMissingLabelMessageSaysWhatIsExpected() {
        XCTAssertEqual(LabeledDataError.missingLabel(path: "train.jsonl", line: 7).description,
                       #"train.jsonl:7: "label" is missing (each line needs {"text": ..., "label": ...})"#)
    }

    func testFileWithOnlyBlankLinesHasNoExamples() throws {
        XCTAssertEqual(try readError("a.jsonl", "\n \n"), .noExamples(path: path("a.jsonl")))
        XCTAssertEqual(try readError("a.csv", "text,label\n\n"), .noExamples(path: path("a.csv")))
    }

    func testInvalidUTF8NamesTheLine() throws {
        var data = Data(#"{"text": "x", "label": 1}"#.utf8 + [0x0A])
        data.append(contentsOf: Array(#"{"text": "bad "#.utf8) + [0xFF, 0xFE] + Array(#"", "label": 1}"#.utf8))
        let url = try write("a.jsonl", data)
        XCTAssertThrowsError(try LabeledExamples.read(url)) {
            XCTAssertEqual($0 as? LabeledDataError, .notUTF8(path: url.path, line: 2))
        }
    }

    func testUnknownExtensionListsAcceptedOnes() throws {
        let failure = try XCTUnwrap(try readError("a.txt", "text,label\nx,1\n"))
        XCTAssertEqual(failure, .unknownExtension(path: path("a.txt")))
        for accepted in [".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".tab"] {
            XCTAssertTrue(failure.description.contains(accepted), "\(failure) omits \(accepted)")
        }
    }

    func testMissingFileIsUnreadable() {
        let url = directory.appendingPathComponent("absent.jsonl")
        XCTAssertThrowsError(try LabeledExamples.read(url)) { error in
            guard case .unreadableFile(let path, _)? = error as? LabeledDataError else {
                return XCTFail("expected unreadableFile, got \(error)")
            }
            XCTAssertEqual(path, url.path)
        }
    }

    // MARK: - CSV and TSV

    func testCSVQuotedFieldsKeepSeparatorsNewlinesAndQuotes() throws {
        let examples = try read("a.csv", #"""
            text,label
            "one, two",pos
            "she said ""hi""",neg
            "first line
            second line",pos
            plain,"neg"
            """#)
        XCTAssertEqual(examples, [
            LabeledExample(text: "one, two", label: "pos", line: 2),
            LabeledExample(text: #"she said "hi""#, label: "neg", line: 3),
            LabeledExample(text: "first line\nsecond line", label: "pos", line: 4),
            LabeledExample(text: "plain", label: "neg", line: 6),
        ])
    }

    func testCSVHandlesCRLFAndBOMAndKeepsCRLFInsideQuotes() throws {
        let csv = "\u{FEFF}text,label\r\n\"a\r\nb\",1\r\nc,0\r\n"
        let examples = try read("a.csv", csv)
        XCTAssertEqual(examples, [LabeledExample(text: "a\r\nb", label: "1", line: 2), LabeledExample(text: "c", label: "0", line: 4)])
    }

    func testCSVHeaderIsCaseInsensitiveTrimmedAndExtraColumnsIgnored() throws {
        let examples = try read("a.CSV", """
            id, Label ,source,TEXT
            1,0,web, keep my spaces\u{20}
            """)
        XCTAssertEqual(examples, [LabeledExample(text: " keep my spaces ", label: "0", line: 2)])
    }

    func testCSVSkipsEmptyLinesBetweenRecords() throws {
        let examples = try read("a.csv", "text,label\n\nx,1\n\r\n\ny,2\n\n")
        XCTAssertEqual(examples, [LabeledExample(text: "x", label: "1", line: 3), LabeledExample(text: "y", label: "2", line: 6)])
    }

    func testTSVReadsTabSeparatedFieldsWithCommasKept() throws {
        let examples = try read("a.tsv", "label\ttext\n1\tyes, really\n0\t\"quoted\ttab\"\n")
        XCTAssertEqual(examples, [
            LabeledExample(text: "yes, really", label: "1", line: 2),
            LabeledExample(text: "quoted\ttab", label: "0", line: 3),
        ])
        XCTAssertEqual(try read("b.tab", "text\tlabel\nx\t1\n").count, 1)
    }

    func testCSVErrorsNameTheLine() throws {
        let name = "data.csv"
        XCTAssertEqual(try readError(name, ""), .missingHeader(path: path(name)))
        XCTAssertEqual(try readError(name, "sentence,label\nx,1\n"), .missingColumns(path: path(name), line: 1, missing: ["text"]))
        XCTAssertEqual(try readError(name, "text,y\nx,1\n"), .missingColumns(path: path(name), line: 1, missing: ["label"]))
        XCTAssertEqual(try readError(name, "a,b\nx,1\n"), .missingColumns(path: path(name), line: 1, missing: ["text", "label"]))
        XCTAssertEqual(try readError(name, "text,label,Text\nx,1,y\n"), .duplicateColumn(path: path(name), line: 1, name: "text"))
        XCTAssertEqual(try readError(name, "text,label\nx,1\n\"a\nb\",2\ny,1,extra\n"),
                       .wrongFieldCount(path: path(name), line: 5, expected: 2, found: 3))
        XCTAssertEqual(try readError(name, "text,label\nx,1\n\"never\nclosed,1\n"), .unterminatedQuote(path: path(name), line: 3))
        XCTAssertEqual(try readError(name, "text,label\n\"x\"y,1\n"), .textAfterClosingQuote(path: path(name), line: 2))
        XCTAssertEqual(try readError(name, "text,label\nx,1\n  ,1\n"), .emptyText(path: path(name), line: 3))
        XCTAssertEqual(try readError(name, "text,label\nx,\n"), .emptyLabel(path: path(name), line: 2))
    }

    func testWrongFieldCountMessageSaysWhatIsExpected() {
        XCTAssertEqual(LabeledDataError.wrongFieldCount(path: "d.csv", line: 4, expected: 2, found: 1).description,
                       "d.csv:4: the record has 1 field, expected 2 as in the header")
    }

    func testParseDelimitedWorksOnDataWithoutAFile() throws {
        let examples = try LabeledExamples.parseDelimited(Data("text;label\nx;1\n".utf8), separator: ";", path: "mem")
        XCTAssertEqual(examples, [LabeledExample(text: "x", label: "1", line: 2)])
    }

    // MARK: - Label names

    func testLabelNamesAreInNumericOrderWhenAllIntegers() {
        let examples = ["2", "10", "-1", "2"].map { LabeledExample(text: "t", label: $0, line: 1) }
        XCTAssertEqual(LabeledExamples.labelNames(examples), ["-1", "2", "10"])
    }

    func testLabelNamesAreInLexicographicOrderWhenMixed() {
        let examples = ["pos", "10", "2", "Neg"].map { LabeledExample(text: "t", label: $0, line: 1) }
        XCTAssertEqual(LabeledExamples.labelNames(examples), ["10", "2", "Neg", "pos"])
    }

    // MARK: - Size and shared data

    func testTenThousandLinesParseQuickly() throws {
        let line = #"{"text": "a sentence of ordinary length, about as long as a review", "label": 1}"# + "\n"
        let csvLine = "\"a sentence, quoted, with \"\"quotes\"\"\",1\n"
        let started = Date()
        XCTAssertEqual(try LabeledExamples.parseJSONLines(Data(String(repeating: line, count: 10_000).utf8), path: "m").count, 10_000)
        let csv = "text,label\n" + String(repeating: csvLine, count: 10_000)
        XCTAssertEqual(try LabeledExamples.parseDelimited(Data(csv.utf8), separator: ",", path: "m").count, 10_000)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testSentimentSentencesTrainHas2700BinaryExamples() throws {
        let examples = try LabeledExamples.read(SharedData.file("sentiment-sentences-train.jsonl"))
        XCTAssertEqual(examples.count, 2700)
        XCTAssertEqual(LabeledExamples.labelNames(examples), ["0", "1"])
        XCTAssertEqual(examples.first?.text,
                       "So there is no way for me to plug it in here in the US unless I go by a converter.")
        XCTAssertEqual(examples.last?.line, 2700)
    }

    func testRTPolarityTestHas1066BinaryExamples() throws {
        let examples = try LabeledExamples.read(SharedData.file("rt-polarity-test.jsonl"))
        XCTAssertEqual(examples.count, 1066)
        XCTAssertEqual(LabeledExamples.labelNames(examples), ["0", "1"])
    }
}
