// `gpt serve` as a user runs it: it prints its URL when ready, and SIGTERM ends an open
// stream with a final chunk and [DONE], then exits 0.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

final class ServeCommandTests: XCTestCase {
    func testServePrintsItsURLAndSIGTERMEndsOpenStreamsThenExitsZero() async throws {
        guard let binary = Fixture.binary else { throw XCTSkip("the gpt binary is not built next to the tests") }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--checkpoint", try Fixture.checkpoint(), "--port", "0", "--threads", "1", "--model-name", "tiny"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The ready line: "serving tiny at http://127.0.0.1:PORT/v1".
        var printed = ""
        let deadline = Date().addingTimeInterval(60)
        while !printed.contains("/v1\n") && Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            printed += String(decoding: data, as: UTF8.self)
        }
        let url = try XCTUnwrap(printed.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) },
                                printed)
        XCTAssert(url.hasPrefix("http://127.0.0.1:"), printed)

        var request = URLRequest(url: URL(string: url + "/completions")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"prompt": "User:", "max_tokens": 100000, "stream": true}"#.utf8)
        request.timeoutInterval = 60
        let stream = Task { try await URLSession.shared.data(for: request) }
        try await Task.sleep(nanoseconds: 500_000_000)
        kill(process.processIdentifier, SIGTERM)
        let (data, _) = try await stream.value
        let text = String(decoding: data, as: UTF8.self)
        XCTAssert(text.hasSuffix("data: [DONE]\n\n"), String(text.suffix(300)))
        XCTAssert(text.contains(#""finish_reason":"length""#), String(text.suffix(300)))
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
