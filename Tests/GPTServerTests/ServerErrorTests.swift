// Every refusal has OpenAI's error shape and the right status; bad input never gets a 500.
import Foundation
import GPTServer
import XCTest

final class ServerErrorTests: XCTestCase {
    func expectError(_ answer: HTTPAnswer, status: Int, param: String? = nil, mentions words: [String] = [],
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.status, status, answer.text, file: file, line: line)
        let error = answer.error
        XCTAssertNotNil(error["message"] as? String, answer.text, file: file, line: line)
        XCTAssertNotNil(error["type"] as? String, answer.text, file: file, line: line)
        XCTAssert(error.keys.contains("param") && error.keys.contains("code"), answer.text, file: file, line: line)
        if let param { XCTAssertEqual(error["param"] as? String, param, answer.text, file: file, line: line) }
        for word in words { XCTAssert((error["message"] as? String ?? "").contains(word), answer.text, file: file, line: line) }
    }

    func testMalformedJSONInvalidUTF8AndNonObjectsAre400() async throws {
        let server = try await RunningServer.start()
        expectError(try await server.request("/v1/completions", body: Data("{\"prompt\": ".utf8)), status: 400, mentions: ["JSON"])
        expectError(try await server.request("/v1/completions", body: Data([0x7B, 0x22, 0x70, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])),
                    status: 400, mentions: ["UTF-8"])
        expectError(try await server.request("/v1/completions", body: Data("[1, 2]".utf8)), status: 400)
        expectError(try await server.request("/v1/chat/completions", body: Data()), status: 400)
        await server.stop()
    }

    func testAKnownFieldWithAWrongTypeOrRangeNamesTheParameter() async throws {
        let server = try await RunningServer.start()
        let cases: [(String, Any)] = [("temperature", "hot"), ("temperature", 3), ("top_p", 1.5), ("top_p", 0), ("max_tokens", 0),
                                      ("max_tokens", 2.5), ("n", 0), ("n", 9), ("stream", "yes"), ("seed", "x"),
                                      ("presence_penalty", 2.5), ("frequency_penalty", -3), ("stop", [1]),
                                      ("stop", ["a", "b", "c", "d", "e"]), ("top_k", "many"), ("repetition_penalty", 0),
                                      ("echo", 1), ("prompt", 5), ("prompt", []), ("prompt", [[1, 100_000]]),
                                      ("logprobs", 21), ("logprobs", true)]
        for (name, value) in cases {
            var body: [String: Any] = ["prompt": "User:", "max_tokens": 2]
            body[name] = value
            expectError(try await server.complete(body), status: 400, param: name)
        }
        expectError(try await server.complete(["prompt": "x", "stream": true, "stream_options": ["include_usage": "yes"]]),
                    status: 400, param: "stream_options.include_usage")
        expectError(try await server.chat(["messages": [["role": "robot", "content": "hi"]]]), status: 400, param: "messages[0].role")
        expectError(try await server.chat(["messages": "hi"]), status: 400, param: "messages")
        let hi = [["role": "user", "content": "hi"]]
        expectError(try await server.chat(["messages": hi, "top_logprobs": 2]), status: 400, param: "top_logprobs")
        expectError(try await server.chat(["messages": hi, "logprobs": true, "top_logprobs": 21]), status: 400, param: "top_logprobs")
        expectError(try await server.chat(["messages": hi, "logprobs": 1]), status: 400, param: "logprobs")
        // Unknown fields are ignored.
        let fine = try await server.complete(["prompt": "User:", "max_tokens": 2, "best_of_everything": [1, 2], "user": "me"])
        XCTAssertEqual(fine.status, 200, fine.text)
        await server.stop()
    }

    func testAPromptThatLeavesNoRoomInTheContextSaysHowManyTokensFit() async throws {
        let server = try await RunningServer.start()
        let answer = try await server.complete(["prompt": String(repeating: "a", count: 40)])
        expectError(answer, status: 400, param: "prompt", mentions: ["40 tokens", "31"])
        XCTAssertEqual(answer.error["code"] as? String, "context_length_exceeded")
        let chat = try await server.chat(["messages": [["role": "user", "content": String(repeating: "a", count: 40)]]])
        expectError(chat, status: 400, param: "messages", mentions: ["31"])
        await server.stop()
    }

    func testAMissingOrWrongBearerKeyIs401() async throws {
        let server = try await RunningServer.start { $0.apiKey = "sesame" }
        expectError(try await server.complete(["prompt": "User:"]), status: 401)
        expectError(try await server.complete(["prompt": "User:"]), status: 401, mentions: ["missing"])
        expectError(try await server.request("/v1/models", method: "GET", headers: ["Authorization": "Bearer sesam"]), status: 401)
        expectError(try await server.request("/v1/models", method: "GET", headers: ["Authorization": "Basic sesame"]), status: 401)
        let ok = try await server.request("/v1/completions", json: ["prompt": "User:", "max_tokens": 2],
                                          headers: ["Authorization": "Bearer sesame"])
        XCTAssertEqual(ok.status, 200, ok.text)
        let health = try await server.request("/health", method: "GET")
        XCTAssertEqual(health.status, 200)  // probes need no key
        await server.stop()
    }

    func testAnUnknownRouteOrModelIs404() async throws {
        let server = try await RunningServer.start()
        expectError(try await server.request("/v1/embeddings", json: ["input": "x"]), status: 404)
        expectError(try await server.request("/v1/completions", method: "GET"), status: 404)
        let model = try await server.complete(["model": "gpt-4", "prompt": "User:"])
        expectError(model, status: 404, param: "model", mentions: ["gpt-4"])
        XCTAssertEqual(model.error["code"] as? String, "model_not_found")
        expectError(try await server.request("/v1/models/gpt-4", method: "GET"), status: 404)
        let known = try await server.request("/v1/models/tiny", method: "GET")
        XCTAssertEqual(known.status, 200)
        await server.stop()
    }

    func testABodyOverMaxBodyIs413() async throws {
        let server = try await RunningServer.start { $0.maxBody = 1000 }
        let big: [String: Any] = ["prompt": "User:", "max_tokens": 1, "padding": String(repeating: "x", count: 2000)]
        expectError(try await server.complete(big), status: 413, mentions: ["1000"])
        let small = try await server.complete(["prompt": "User:", "max_tokens": 1])
        XCTAssertEqual(small.status, 200)
        await server.stop()
    }

    func testAFullQueueIs503WithRetryAfterAndADisconnectedStreamFreesTheEngine() async throws {
        let server = try await RunningServer.start { $0.maxQueue = 1; $0.maxBatch = 1 }
        // A stream far longer than the test (the window slides past the context), then one waiting behind it.
        let long: [String: Any] = ["prompt": "User:", "max_tokens": 100_000, "stream": true]
        let running = Task { try await server.complete(long) }
        var ok = await server.wait(seconds: 10) { server.engine.depth.running == 1 }
        XCTAssert(ok, "the first stream never started")
        let waiting = Task { try await server.complete(long) }
        ok = await server.wait(seconds: 10) { server.engine.depth.queued == 1 }
        XCTAssert(ok, "the second stream never queued")

        let refused = try await server.complete(["prompt": "User:", "max_tokens": 2])
        expectError(refused, status: 503)
        XCTAssertEqual(refused.error["code"] as? String, "queue_full")
        XCTAssertNotNil(refused.headers["retry-after"])

        // Clients that go away free the engine within a step, long before their 100,000 tokens.
        running.cancel()
        waiting.cancel()
        let started = Date()
        ok = await server.wait(seconds: 20) { server.engine.depth == (0, 0) }
        XCTAssert(ok, "the engine was not freed after the clients disconnected")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        let after = try await server.complete(["prompt": "User:", "max_tokens": 2])
        XCTAssertEqual(after.status, 200, after.text)
        await server.stop()
    }

    func testAStreamWaitingForItsFirstTokenGetsPingCommentsThenItsAnswer() async throws {
        let server = try await RunningServer.start { $0.maxBatch = 1; $0.pingInterval = 0.05 }
        // One slot, taken by a long stream: the next request waits, and hears `: ping` meanwhile.
        let running = Task { try await server.complete(["prompt": "User:", "max_tokens": 100_000, "stream": true]) }
        var ok = await server.wait(seconds: 10) { server.engine.depth.running == 1 }
        XCTAssert(ok, "the first stream never started")
        let waiting = Task { try await server.complete(["prompt": "User:", "max_tokens": 3, "stream": true]) }
        ok = await server.wait(seconds: 10) { server.engine.depth.queued == 1 }
        XCTAssert(ok, "the second stream never queued")
        try await Task.sleep(nanoseconds: 400_000_000)
        running.cancel()
        let answer = try await waiting.value
        XCTAssertEqual(answer.status, 200)
        XCTAssert(answer.text.hasPrefix(": ping\n\n"), String(answer.text.prefix(200)))
        XCTAssertGreaterThanOrEqual(answer.events.prefix { $0 == ": ping" }.count, 3, "a ping every 0.05 s for 0.4 s")
        XCTAssertEqual(answer.events.last, "[DONE]")
        XCTAssertEqual(answer.eventObjects.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }, ["length"])
        await server.stop()
    }

    func testANonStreamingClientThatDisconnectsFreesItsSlotWithinAStep() async throws {
        let server = try await RunningServer.start { $0.maxBatch = 1 }
        // 100,000 tokens take this model far longer than the bounds below (the window slides past the
        // context, so each token re-runs 31 positions); the client sends the request, waits, and leaves.
        let client = try RawConnection(port: server.port)
        try client.post("/v1/completions", json: #"{"prompt": "User:", "max_tokens": 100000, "temperature": 0}"#)
        var ok = await server.wait(seconds: 10) { server.engine.runningSequences == 1 }
        XCTAssert(ok, "the request never started")
        // Still generating a second later: it cannot have ended by itself within the bound below.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        XCTAssertEqual(server.engine.runningSequences, 1, "the request ended before its client left")
        client.close()
        let closed = Date()
        ok = await server.wait(seconds: 1) { server.engine.depth == (0, 0) && server.engine.runningSequences == 0 }
        XCTAssert(ok, "the slot was not freed within 1 s of the client closing its connection")
        let freedAfter = Date().timeIntervalSince(closed)
        let metrics = try await server.request("/metrics", method: "GET")
        XCTAssert(metrics.text.split(separator: "\n").contains("gpt_running_sequences 0.0"), metrics.text)
        // The engine serves the next request (one slot: it was really freed).
        let after = try await server.complete(["prompt": "User:", "max_tokens": 2])
        XCTAssertEqual(after.status, 200, after.text)
        print("slot freed \(Int(freedAfter * 1000)) ms after the client closed")
        await server.stop()
    }
}
