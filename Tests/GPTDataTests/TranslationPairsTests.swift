// The pairs reader: the Bible files read as pairs, and every malformed line is one error naming file:line.
import Foundation
import XCTest
import GPTData
import GPTTestSupport

final class TranslationPairsTests: XCTestCase {
    func testReadsSourceAndTargetIgnoringOtherKeysAndBlankLines() throws {
        let text = "\u{FEFF}{\"source\": \"In the beginning\", \"target\": \"En el principio\", \"ref\": \"Gen 1:1\"}\n\n  \n"
            + "{\"target\": \"y la tierra\", \"source\": \"and the earth\"}\r\n"
        let pairs = try TranslationPairs.parse(Data(text.utf8), path: "p.jsonl")
        XCTAssertEqual(pairs, [TranslationPair(source: "In the beginning", target: "En el principio", line: 1),
                               TranslationPair(source: "and the earth", target: "y la tierra", line: 4)])
    }

    func testMalformedLinesAreErrorsNamingFileAndLine() {
        let cases: [(String, PairsError)] = [
            ("{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\"", .invalidJSON(path: "p.jsonl", line: 2)),
            ("[\"a\", \"b\"]", .notAnObject(path: "p.jsonl", line: 1)),
            ("\"just text\"", .notAnObject(path: "p.jsonl", line: 1)),
            ("{\"source\": \"a\"}", .missingField(path: "p.jsonl", line: 1, field: "target")),
            ("{\"target\": \"a\"}", .missingField(path: "p.jsonl", line: 1, field: "source")),
            ("{\"source\": 3, \"target\": \"b\"}", .wrongType(path: "p.jsonl", line: 1, field: "source", found: "a number or boolean")),
            ("{\"source\": \"a\", \"target\": null}", .wrongType(path: "p.jsonl", line: 1, field: "target", found: "null")),
            ("{\"source\": [\"a\"], \"target\": \"b\"}", .wrongType(path: "p.jsonl", line: 1, field: "source", found: "an array")),
            ("{\"source\": \"a\", \"target\": true}", .wrongType(path: "p.jsonl", line: 1, field: "target", found: "a number or boolean")),
            ("{\"source\": \" \\t\", \"target\": \"b\"}", .emptyField(path: "p.jsonl", line: 1, field: "source")),
            ("", .noPairs(path: "p.jsonl")),
            ("\n \n", .noPairs(path: "p.jsonl")),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try TranslationPairs.parse(Data(text.utf8), path: "p.jsonl"), text) { error in
                XCTAssertEqual(error as? PairsError, expected, text)
                XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)")
                if case .noPairs = expected {} else { XCTAssert("\(error)".hasPrefix("p.jsonl:"), "\(error)") }
            }
        }
        var bad = Data("{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"".utf8)
        bad.append(contentsOf: [0xC3, 0x28]); bad.append(contentsOf: Array("\", \"target\": \"b\"}".utf8))
        XCTAssertThrowsError(try TranslationPairs.parse(bad, path: "p.jsonl")) { XCTAssertEqual($0 as? PairsError, .notUTF8(path: "p.jsonl", line: 2)) }
        XCTAssertThrowsError(try TranslationPairs.read(URL(fileURLWithPath: "/nonexistent/pairs.jsonl"))) {
            XCTAssert("\($0)".hasPrefix("cannot read /nonexistent/pairs.jsonl"), "\($0)")
        }
    }

    func testReadsTheSharedBibleTestFileAndTokenisesBothSidesWithOneTokenizer() throws {
        let url = try SharedData.file("bible-en-es-test.jsonl")
        let pairs = try TranslationPairs.read(url)
        XCTAssertEqual(pairs.count, 939)
        XCTAssertEqual(pairs[0].source, "There was evening and there was morning, a third day.")
        XCTAssertEqual(pairs[0].target, "Y fué la tarde y la mañana el día tercero.")
        let tokenizer = try SharedData.gpt2()
        let tokenized = try TranslationPairs.tokenize(Array(pairs.prefix(5)), with: tokenizer)
        XCTAssertEqual(tokenized[0].source.map(Int.init), try tokenizer.encode(pairs[0].source))
        XCTAssertEqual(tokenized[0].target.map(Int.init), try tokenizer.encode(pairs[0].target))
        XCTAssertEqual(tokenized.map(\.line), [1, 2, 3, 4, 5])
    }
}
