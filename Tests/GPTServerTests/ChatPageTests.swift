// GET /: the chat page is one self-contained document that talks to this server's chat route,
// needs no key to load, and shows the key field only when the server asks for one. (It is
// driven in a real browser by Tests/EndToEnd/browser_chat.py.)
import Foundation
import GPTServer
import XCTest

final class ChatPageTests: XCTestCase {
    func testThePageIsSelfContainedAndStreamsFromTheChatRoute() async throws {
        let server = try await RunningServer.start { $0.apiKey = "sesame" }
        let page = try await server.request("/", method: "GET")
        XCTAssertEqual(page.status, 200, "the page loads without the key (it asks for it)")
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        let html = page.text
        XCTAssertTrue(html.hasPrefix("<!doctype html>"))
        XCTAssertTrue(html.contains("fetch(\"/v1/chat/completions\"") && html.contains("getReader()") && html.contains("stream: true"))
        XCTAssertTrue(html.contains("<span id=\"model\">tiny</span>"))
        // Nothing from elsewhere: no external scripts, styles, fonts or images.
        for pattern in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            XCTAssertFalse(html.contains(pattern), "the page refers to \(pattern)")
        }
        XCTAssertFalse(html.contains("<label hidden>API key"), "a server with a key shows the key field")
        // The routes behind it still need the key.
        let refused = try await server.chat(["messages": [["role": "user", "content": "hi"]]])
        XCTAssertEqual(refused.status, 401)
        await server.stop()

        let open = try await RunningServer.start()
        let plain = try await open.request("/", method: "GET").text
        XCTAssertTrue(plain.contains("<label hidden>API key"), "no key needed: no key field")
        await open.stop()
    }
}
