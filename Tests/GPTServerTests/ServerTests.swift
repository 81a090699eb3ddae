// The OpenAI-compatible server end to end over real HTTP on loopback: response shapes,
// prompt forms, chat, streaming, stop strings, n, seeds, and that an answer does not
// depend on what else the server is doing.
import Foundation
import GPTServer
import GPTTokenizer
import XCTest

final class ServerTests: XCTestCase {
    var server: RunningServer!

    override func setUp() async throws {
        server = try await RunningServer.start()
    }

    override func tearDown() async throws {
        await server?.stop()
    }

    func testHealthIs503WhileTheModelLoadsThen200() async throws {
        let gate = DispatchSemaphore(value: 0)
        let checkpoint = try Fixture.checkpoint()
        let loading = try await RunningServer.start(load: {
            gate.wait()
            return try LoadedModel.load(checkpoint: checkpoint, tokenizer: nil, threads: 1)
        }, waitForModel: false)
        let early = try await loading.request("/health", method: "GET")
        XCTAssertEqual(early.status, 503)
        let refused = try await loading.complete(["prompt": "User:"])
        XCTAssertEqual(refused.status, 503)
        XCTAssertNotNil(refused.headers["retry-after"])
        gate.signal()
        _ = await loading.engine.waitForLoad()
        let late = try await loading.request("/health", method: "GET")
        XCTAssertEqual(late.status, 200)
        XCTAssertEqual(late.json["status"] as? String, "ok")
        await loading.stop()
    }

    func testModelsListsTheServedModel() async throws {
        let answer = try await server.request("/v1/models", method: "GET")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.json["object"] as? String, "list")
        let models = try XCTUnwrap(answer.json["data"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["id"] as? String }, ["tiny"])
        XCTAssertEqual(models.first?["object"] as? String, "model")
    }

    func testCompletionHasOpenAIsShapeAndCountsTokens() async throws {
        let answer = try await server.complete(["model": "tiny", "prompt": "User: hello", "max_tokens": 7, "temperature": 0])
        XCTAssertEqual(answer.status, 200, answer.text)
        let json = answer.json
        XCTAssertEqual(json["object"] as? String, "text_completion")
        XCTAssert((json["id"] as? String)?.hasPrefix("cmpl-") == true)
        XCTAssertEqual(json["model"] as? String, "tiny")
        XCTAssertNotNil(json["created"] as? Int)
        let choice = try XCTUnwrap((json["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["index"] as? Int, 0)
        XCTAssertEqual(choice["finish_reason"] as? String, "length")
        XCTAssertEqual((choice["text"] as? String)?.count, 7)  // a character model: one token, one character
        let usage = try XCTUnwrap(json["usage"] as? [String: Int])
        XCTAssertEqual(usage, ["prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18])
    }

    func testPromptMayBeStringsTokenIDsOrArraysOfThem() async throws {
        let tokens = try await server.request("/tokenize", json: ["content": "User: hi"]).json["tokens"] as? [Int]
        let ids = try XCTUnwrap(tokens)
        let base: [String: Any] = ["max_tokens": 6, "temperature": 0]
        func texts(_ prompt: Any) async throws -> [String] {
            let answer = try await server.complete(base.merging(["prompt": prompt]) { $1 })
            XCTAssertEqual(answer.status, 200, answer.text)
            return answer.choiceTexts
        }
        let one = try await texts("User: hi")
        XCTAssertEqual(one.count, 1)
        let fromIDs = try await texts(ids)
        XCTAssertEqual(fromIDs, one)
        let two = try await texts(["User: hi", "Assistant:"])
        XCTAssertEqual(two.count, 2)
        XCTAssertEqual(two[0], one[0])
        let twoIDs = try await texts([ids, ids])
        XCTAssertEqual(twoIDs, [one[0], one[0]])
    }

    func testEchoPutsThePromptBeforeTheCompletion() async throws {
        let plain = try await server.complete(["prompt": "User:", "max_tokens": 5, "temperature": 0]).choiceTexts
        let echoed = try await server.complete(["prompt": "User:", "max_tokens": 5, "temperature": 0, "echo": true]).choiceTexts
        XCTAssertEqual(echoed, ["User:" + plain[0]])
    }

    func testChatRendersThePlainTemplateAndStopsAtTheNextUserLine() async throws {
        let chat = try await server.chat(["messages": [["role": "system", "content": "a"],
                                                        ["role": "user", "content": "hi"]],
                                          "max_tokens": 8, "temperature": 0])
        XCTAssertEqual(chat.status, 200, chat.text)
        XCTAssertEqual(chat.json["object"] as? String, "chat.completion")
        let choice = try XCTUnwrap((chat.json["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((choice["message"] as? [String: Any])?["role"] as? String, "assistant")
        // The same text through /v1/completions with the template written out by hand.
        let same = try await server.complete(["prompt": "a\nUser: hi\nAssistant:", "max_tokens": 8,
                                              "temperature": 0, "stop": "\nUser:"])
        XCTAssertEqual(chat.choiceTexts, same.choiceTexts)
        XCTAssertEqual(PlainChatTemplate().render([ChatMessage(role: .user, content: "hi"), ChatMessage(role: .assistant, content: "yo"),
                                                   ChatMessage(role: .user, content: "ok")]),
                       "User: hi\nAssistant: yo\nUser: ok\nAssistant:")
    }

    func testStreamedChatSendsRoleFirstFinishReasonLastThenDone() async throws {
        let body: [String: Any] = ["messages": [["role": "user", "content": "hello"]], "max_tokens": 12, "temperature": 0,
                                   "stream": true]
        let answer = try await server.chat(body)
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.headers["content-type"], "text/event-stream")
        XCTAssertEqual(answer.events.last, "[DONE]")
        let chunks = answer.eventObjects
        XCTAssert(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["usage"] == nil })
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        XCTAssertEqual((choices.first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
        XCTAssertEqual(choices.dropFirst().filter { ($0["delta"] as? [String: Any])?["role"] != nil }.count, 0)
        XCTAssertEqual(choices.last?["finish_reason"] as? String, "length")
        XCTAssert(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
        let streamed = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        let whole = try await server.chat(body.merging(["stream": false]) { $1 })
        XCTAssertEqual(streamed, whole.choiceTexts.first)

        // include_usage: one more chunk, with no choices and the counts.
        let withUsage = try await server.chat(body.merging(["stream_options": ["include_usage": true]]) { $1 })
        let last = try XCTUnwrap(withUsage.eventObjects.last)
        XCTAssertEqual((last["choices"] as? [Any])?.count, 0)
        XCTAssertEqual((last["usage"] as? [String: Int])?["completion_tokens"], 12)
        XCTAssert(withUsage.eventObjects.dropLast().allSatisfy { $0["usage"] is NSNull })
    }

    func testAStopStringEndsTheTextAndIsNeverReturnedOrStreamed() async throws {
        let free = try await server.complete(["prompt": "User:", "max_tokens": 30, "seed": 3]).choiceTexts[0]
        // A stop string from the middle of the free text, first appearing there: the answer is what precedes it.
        let chars = Array(free)
        let k = try XCTUnwrap((3..<(chars.count - 2)).first { k in
            let candidate = String(chars[k..<(k + 2)])
            return free.range(of: candidate)!.lowerBound == free.index(free.startIndex, offsetBy: k)
        }, "no two characters of \(free.debugDescription) first appear after its start")
        let stop = String(chars[k..<(k + 2)])
        let expected = String(chars[..<k])
        let request: [String: Any] = ["prompt": "User:", "max_tokens": 30, "seed": 3, "stop": ["zzz", stop]]
        let stopped = try await server.complete(request)
        XCTAssertEqual(stopped.choiceTexts, [expected])
        XCTAssertEqual((stopped.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "stop")
        let streamed = try await server.complete(request.merging(["stream": true]) { $1 })
        let pieces = streamed.eventObjects.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
        XCTAssertEqual(pieces.joined(), expected)
        XCTAssertFalse(pieces.contains { $0.contains(stop) })
    }

    func testNTwoGivesTwoChoicesEachWithItsOwnSample() async throws {
        let answer = try await server.complete(["prompt": "User:", "max_tokens": 20, "n": 2, "seed": 7, "temperature": 1.5])
        XCTAssertEqual(answer.status, 200, answer.text)
        let choices = try XCTUnwrap(answer.json["choices"] as? [[String: Any]])
        XCTAssertEqual(choices.map { $0["index"] as? Int }, [0, 1])
        XCTAssertNotEqual(answer.choiceTexts[0], answer.choiceTexts[1])
        XCTAssertEqual((answer.json["usage"] as? [String: Int])?["completion_tokens"], 40)
    }

    func testTheSameSeedGivesTheSameAnswer() async throws {
        let request: [String: Any] = ["prompt": "User:", "max_tokens": 25, "seed": 42, "temperature": 1.2, "top_p": 0.95,
                                      "top_k": 10, "presence_penalty": 0.5, "frequency_penalty": 0.3, "repetition_penalty": 1.1]
        let first = try await server.complete(request).choiceTexts
        let second = try await server.complete(request).choiceTexts
        XCTAssertEqual(first, second)
        let other = try await server.complete(request.merging(["seed": 43]) { $1 }).choiceTexts
        XCTAssertNotEqual(first, other)
    }

    func testAGreedyRequestEqualsGptSampleAtTemperatureZero() async throws {
        let (status, output, error) = try Fixture.gpt(["sample", "--checkpoint", try Fixture.checkpoint(), "--prompt", "User: hello",
                                                       "--temperature", "0", "--max-new-tokens", "40", "--json", "--threads", "1"])
        XCTAssertEqual(status, 0, error)
        let line = try XCTUnwrap(output.split(separator: "\n").last)
        let sample = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let expected = try XCTUnwrap((sample["samples"] as? [[String: Any]])?.first?["text"] as? String)
        let answer = try await server.complete(["prompt": "User: hello", "max_tokens": 40, "temperature": 0])
        XCTAssertEqual(answer.choiceTexts, [expected])
    }

    func testEightConcurrentRequestsEachEqualTheSameRequestRunAlone() async throws {
        // Different prompts, lengths and settings, greedy and seeded, streamed and not.
        let requests: [[String: Any]] = (0..<8).map { i in
            var r: [String: Any] = ["prompt": ["User:", "Assistant: the", "hello", "User: how are", "q", "the king", "warm", "A"][i],
                                    "max_tokens": 10 + 7 * i, "seed": 100 + i, "temperature": i % 3 == 0 ? 0 : 0.9]
            if i % 2 == 1 { r["stream"] = true }
            if i == 5 { r["n"] = 2 }
            return r
        }
        var alone: [String] = []
        for r in requests { alone.append(Self.content(try await server.complete(r))) }
        let server = self.server!
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, r) in requests.enumerated() {
                let body = r  // a value copy for the child task
                group.addTask { (i, Self.content(try await server.complete(body))) }
            }
            var out = [String](repeating: "", count: requests.count)
            for try await (i, text) in group { out[i] = text }
            return out
        }
        XCTAssertEqual(together, alone)
    }

    /// The texts of an answer, streamed or not, per choice.
    static func content(_ answer: HTTPAnswer) -> String {
        if answer.headers["content-type"] == "text/event-stream" {
            var texts: [Int: String] = [:]
            for chunk in answer.eventObjects {
                for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                    texts[choice["index"] as? Int ?? -1, default: ""] += choice["text"] as? String ?? ""
                }
            }
            return texts.keys.sorted().map { texts[$0]! }.joined(separator: "|")
        }
        return answer.choiceTexts.joined(separator: "|")
    }

    func testLogprobsCoverEveryTokenOfTheTextAndTheGreedyTokenIsTheMostLikely() async throws {
        let answer = try await server.complete(["prompt": "User:", "max_tokens": 12, "temperature": 0, "logprobs": 3])
        XCTAssertEqual(answer.status, 200, answer.text)
        let choice = try XCTUnwrap((answer.json["choices"] as? [[String: Any]])?.first)
        let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any])
        let tokens = try XCTUnwrap(logprobs["tokens"] as? [String])
        let values = try XCTUnwrap(logprobs["token_logprobs"] as? [Double])
        let top = try XCTUnwrap(logprobs["top_logprobs"] as? [[String: Double]])
        XCTAssertEqual(tokens.joined(), choice["text"] as? String)
        XCTAssertEqual(values.count, 12)
        XCTAssertEqual(logprobs["text_offset"] as? [Int], Array(0..<12))
        for (value, alternatives) in zip(values, top) {
            XCTAssertEqual(alternatives.count, 3)
            XCTAssertLessThanOrEqual(value, 0)
            XCTAssertEqual(value, alternatives.values.max()!, accuracy: 1e-6)  // greedy: the chosen token is the most likely
        }
        // Chat's shape, streamed: each chunk carries the logprobs of the tokens its text completes.
        let chat = try await server.chat(["messages": [["role": "user", "content": "hi"]], "max_tokens": 6, "temperature": 0,
                                          "logprobs": true, "top_logprobs": 2, "stream": true])
        var text = "", logged = ""
        for chunk in chat.eventObjects {
            guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
            text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
            for entry in (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? [] {
                logged += entry["token"] as? String ?? ""
                XCTAssertEqual((entry["top_logprobs"] as? [Any])?.count, 2)
            }
        }
        XCTAssertEqual(logged, text)
        XCTAssertEqual(text.count, 6)
    }

    func testMetricsCountRequestsByStatusTokensAndLatencies() async throws {
        _ = try await server.complete(["prompt": "User:", "max_tokens": 9, "n": 2])
        _ = try await server.complete(["prompt": "User:", "temperature": "hot"])
        let metrics = try await server.request("/metrics", method: "GET")
        XCTAssertEqual(metrics.status, 200)
        XCTAssert(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        let lines = Set(metrics.text.split(separator: "\n").map(String.init))
        for expected in [#"gpt_requests_total{status="200"} 1"#, #"gpt_requests_total{status="400"} 1"#,
                         "gpt_prompt_tokens_total 5", "gpt_completion_tokens_total 18", "gpt_queue_depth 0.0",
                         "gpt_running_sequences 0.0", "gpt_time_to_first_token_seconds_count 1",
                         "gpt_time_per_output_token_seconds_count 1",
                         // One prefill step for both samples' prompts, then 8 decode steps for tokens 2...9.
                         "gpt_engine_step_seconds_count 9"] {
            XCTAssert(lines.contains(expected), "no line \(expected) in\n\(metrics.text)")
        }
    }

    func testTokenizeAndDetokenizeRoundTripInLlamaCppsShape() async throws {
        let tokens = try await server.request("/tokenize", json: ["content": "hello king"])
        XCTAssertEqual(tokens.status, 200)
        let ids = try XCTUnwrap(tokens.json["tokens"] as? [Int])
        XCTAssertEqual(ids.count, 10)
        let text = try await server.request("/detokenize", json: ["tokens": ids])
        XCTAssertEqual(text.json["content"] as? String, "hello king")
        let pieces = try await server.request("/tokenize", json: ["content": "he", "with_pieces": true])
        XCTAssertEqual((pieces.json["tokens"] as? [[String: Any]])?.map { $0["piece"] as? String }, ["h", "e"])
    }
}
