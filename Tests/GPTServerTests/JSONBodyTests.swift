// The hand-written JSON string literal that streamed chunks use, checked against Foundation's
// JSON parser: every text must parse back to itself.
import Foundation
import GPTServer
import Hummingbird
import XCTest

final class JSONBodyTests: XCTestCase {
    func testAppendStringWritesALiteralThatJSONSerializationParsesBackToTheText() throws {
        let texts = ["", "plain", "quote \" and backslash \\ and slash /", "tab\tnew\nline\rreturn",
                     "é 中文 🙂 e\u{301}", "\u{7F}\u{2028}", "\"\\\"", String(decoding: (0..<32).map { UInt8($0) }, as: UTF8.self),
                     String(repeating: "ab\"c\n", count: 200)]
        for text in texts {
            var out = ByteBuffer(string: "[")
            JSONBody.appendString(text, to: &out)
            out.writeString("]")
            let bytes = Data(out.readableBytesView)
            let parsed = try JSONSerialization.jsonObject(with: bytes) as? [String]
            XCTAssertEqual(parsed, [text], String(decoding: bytes, as: UTF8.self))
            // Nothing below 0x20 is left raw (JSON forbids it inside a string).
            XCTAssertFalse(bytes.contains { $0 < 0x20 }, String(decoding: bytes, as: UTF8.self))
        }
    }
}
