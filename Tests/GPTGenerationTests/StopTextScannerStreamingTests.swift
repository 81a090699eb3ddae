import Foundation
import XCTest
import GPTGeneration

final class StopTextScannerStreamingTests: XCTestCase {
    /// Streamed piece by piece, the shown text never contains a stop text, even one split across
    /// pieces, and ends exactly before it.
    func testAStopTextSplitAcrossPiecesIsNeverShown() {
        var scanner = StopTextScanner(stops: ["END", "ñé"])
        var shown = ""
        for piece in ["abc E", "N", "x fooñ", "é more"] {
            let (ready, stopped) = scanner.append(piece)
            shown += ready
            if stopped { break }
        }
        XCTAssertEqual(scanner.text, "abc ENx foo")
        XCTAssertEqual(shown + scanner.flush(), "abc ENx foo")
        XCTAssertFalse(shown.contains("ñ"))
    }

    /// Work per piece does not grow with the text: 200,000 pieces take well under a second.
    func testLongSamplesStreamInLinearTime() {
        var scanner = StopTextScanner(stops: ["<|stop|>", "\n\n"])
        var shown = 0
        let start = Date()
        for i in 0..<200_000 { shown += scanner.append(i % 7 == 0 ? "\n" : "ab").0.utf8.count }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        XCTAssertEqual(shown + scanner.flush().utf8.count, scanner.text.utf8.count)
        XCTAssertFalse(scanner.stopped)
    }
}
