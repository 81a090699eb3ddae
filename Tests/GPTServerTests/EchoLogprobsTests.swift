// /v1/completions with echo and logprobs: the prompt's tokens come first, the first with a
// null logprob (as OpenAI and vLLM answer), each other one scored given those before it.
// Checked against two independent computations: a Double log-softmax of the logits of the
// model's own full forward pass, and the logprobs the cached decoding path reported for the
// same tokens when it generated them.
import Foundation
import GPTCore
import GPTKernels
import GPTServer
import GPTTokenizer
import XCTest

final class EchoLogprobsTests: XCTestCase {
    var server: RunningServer!

    override func setUp() async throws { server = try await RunningServer.start() }
    override func tearDown() async throws { await server?.stop() }

    func logprobs(_ answer: HTTPAnswer) throws -> (tokens: [String], values: [Any], top: [Any], offsets: [Int], text: String) {
        let choice = try XCTUnwrap((answer.json["choices"] as? [[String: Any]])?.first, answer.text)
        let object = try XCTUnwrap(choice["logprobs"] as? [String: Any], answer.text)
        return (try XCTUnwrap(object["tokens"] as? [String]), try XCTUnwrap(object["token_logprobs"] as? [Any]),
                try XCTUnwrap(object["top_logprobs"] as? [Any]), try XCTUnwrap(object["text_offset"] as? [Int]),
                try XCTUnwrap(choice["text"] as? String))
    }

    func testEchoedPromptTokensComeFirstWithANullThenTheirLogprobs() async throws {
        let prompt = "User: hello there"
        let answer = try await server.complete(["prompt": prompt, "max_tokens": 4, "temperature": 0, "echo": true, "logprobs": 2])
        XCTAssertEqual(answer.status, 200, answer.text)
        let (tokens, values, top, offsets, text) = try logprobs(answer)
        XCTAssertEqual(tokens.count, prompt.count + 4, "one per prompt character, then the 4 generated")
        XCTAssertEqual(tokens.joined(), text)
        XCTAssertTrue(text.hasPrefix(prompt))
        XCTAssertTrue(values[0] is NSNull && top[0] is NSNull, "the first token has nothing before it")
        XCTAssertEqual(offsets, Array(0..<text.count))
        for (value, alternatives) in zip(values.dropFirst(), top.dropFirst()) {
            let v = try XCTUnwrap(value as? Double), alts = try XCTUnwrap(alternatives as? [String: Double])
            XCTAssertLessThanOrEqual(v, 0)
            XCTAssertEqual(alts.count, 2)
            XCTAssertLessThanOrEqual(v, alts.values.max()! + 1e-6)
        }

        // The same prompt without echo: the generated part's logprobs are unchanged.
        let plain = try logprobs(try await server.complete(["prompt": prompt, "max_tokens": 4, "temperature": 0, "logprobs": 2]))
        XCTAssertEqual(plain.tokens, Array(tokens.suffix(4)))
        XCTAssertEqual(plain.values.compactMap { $0 as? Double }, values.suffix(4).compactMap { $0 as? Double })

        // Streamed: the echo chunk carries the prompt's logprobs, offsets from 0.
        let streamed = try await server.complete(["prompt": prompt, "max_tokens": 4, "temperature": 0, "echo": true, "logprobs": 2,
                                                  "stream": true])
        let first = try XCTUnwrap((streamed.eventObjects.first?["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["text"] as? String, prompt)
        let echoed = try XCTUnwrap(first["logprobs"] as? [String: Any])
        XCTAssertEqual(echoed["tokens"] as? [String], Array(tokens.prefix(prompt.count)))
        XCTAssertEqual(echoed["text_offset"] as? [Int], Array(0..<prompt.count))
        XCTAssertEqual((echoed["token_logprobs"] as? [Any])?.first is NSNull, true)
    }

    func testEchoWithNoNewTokensScoresThePromptAlone() async throws {
        // lm-evaluation-harness's loglikelihood request: echo, logprobs, max_tokens 0.
        let answer = try await server.complete(["prompt": "User: hi", "max_tokens": 0, "echo": true, "logprobs": 1])
        XCTAssertEqual(answer.status, 200, answer.text)
        let scored = try logprobs(answer)
        XCTAssertEqual(scored.text, "User: hi")
        XCTAssertEqual(scored.tokens.count, 8)
        XCTAssertEqual(scored.values.compactMap { $0 as? Double }.count, 7)
        XCTAssertEqual((answer.json["usage"] as? [String: Int])?["completion_tokens"], 0)
        // Without echo, 0 is still out of range.
        let refused = try await server.complete(["prompt": "User: hi", "max_tokens": 0])
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.error["param"] as? String, "max_tokens")
    }

    func testPromptScoresMatchTheCachedPathThatGeneratedTheSameTokens() async throws {
        // Generate greedily with logprobs, then score prompt + generated text with echo: the
        // full-sequence pass must give the tokens the logprobs the cached decode gave them.
        let generated = try logprobs(try await server.complete(["prompt": "User:", "max_tokens": 8, "temperature": 0, "logprobs": 0]))
        let scored = try logprobs(try await server.complete(["prompt": "User:" + generated.text, "max_tokens": 1, "temperature": 0,
                                                             "echo": true, "logprobs": 0]))
        let cached = generated.values.compactMap { $0 as? Double }
        let full = scored.values.dropFirst(5).prefix(8).compactMap { $0 as? Double }
        XCTAssertEqual(cached.count, 8)
        XCTAssertEqual(full.count, 8)
        for (a, b) in zip(cached, full) { XCTAssertEqual(a, b, accuracy: 1e-4) }  // two summation orders in Float
    }

    func testScoringInFewRowsAtATimeMatchesADoubleLogSoftmaxOfTheFullLogits() throws {
        let loaded = try LoadedModel.load(checkpoint: try Fixture.checkpoint(), tokenizer: nil, threads: 1)
        let prompt = try loaded.tokenizer.encode("User: hello there, how are you?").map(Int32.init)
        let scored = try loaded.promptLogprobs(prompt, top: 3, rows: 5)  // 5 does not divide T − 1
        XCTAssertEqual(scored.count, prompt.count - 1)
        // Reference: the LM head's logits of one forward pass, log-softmax in Double.
        let model = loaded.model, v = model.config.vocabSize
        try model.forward(tokens: prompt, targets: nil, batch: 1, seq: prompt.count)
        let logits = Array(model.logits)
        var worst = 0.0
        for t in 0..<(prompt.count - 1) {
            let row = logits[(t * v)..<((t + 1) * v)].map(Double.init)
            let maximum = row.max()!
            let logZ = maximum + log(row.reduce(0) { $0 + exp($1 - maximum) })
            XCTAssertEqual(scored[t].token, prompt[t + 1])
            worst = max(worst, abs(Double(scored[t].logprob) - (row[Int(prompt[t + 1])] - logZ)))
            let best = row.indices.max { row[$0] < row[$1] }!
            XCTAssertEqual(scored[t].top.first.map { Int($0.token) }, best)
        }
        XCTAssertLessThan(worst, 1e-4, "worst |logprob − reference|")
    }
}
