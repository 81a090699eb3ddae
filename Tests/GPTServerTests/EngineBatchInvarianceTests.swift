// Continuous batching must not change an answer: each request's events (text, logprobs
// to the bit, finish reasons and counts) are the same when eight run together, arriving
// at different times and prefilled in small chunks beside running streams, as when each
// runs alone; and a greedy one equals the Generator (`gpt sample --temperature 0`).
import Foundation
import GPTCore
import GPTGeneration
import GPTKernels
import GPTTokenizer
import XCTest
import GPTServer

final class EngineBatchInvarianceTests: XCTestCase {
    static let characters = "abcdefghijklmnopqrstuvwxyz .,!?\n:AUS"

    /// Random weights (the arithmetic is what is tested): heads of 64, an MLP K of 512 (two GEMM
    /// blocks), a 64-token context that long requests slide past, on two threads.
    static func model() throws -> LoadedModel {
        let tokenizer = CharTokenizer(characters: characters.unicodeScalars)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 64, embeddingSize: 128, layerCount: 2,
                               headCount: 2)
        return LoadedModel(model: try GPT(config: config, seed: 21, pool: ThreadPool(threads: 2)), tokenizer: tokenizer)
    }

    static func ids(_ text: String) -> [Int32] {
        let tokenizer = CharTokenizer(characters: characters.unicodeScalars)
        return try! tokenizer.encode(text).map(Int32.init)  // every character of these prompts is in the set
    }

    /// Eight requests: greedy and seeded (temperature, top-p, top-k, penalties), n = 2, stop strings,
    /// logprobs, prompts from 1 to 50 tokens, lengths that slide the window.
    static func requests() -> [(prompt: [Int32], parameters: GenerationParameters)] {
        func make(_ prompt: String, _ maxTokens: Int, _ configure: (inout GenerationParameters) -> Void) -> ([Int32], GenerationParameters) {
            var p = GenerationParameters()
            p.maxTokens = maxTokens
            configure(&p)
            return (ids(prompt), p)
        }
        return [
            make("User: hello", 20) { $0.sampling.temperature = 0 },
            make("the king", 25) { $0.seed = 7; $0.sampling.temperature = 0.9; $0.sampling.topP = 0.9; $0.logprobs = 3 },
            make("A", 15) { $0.seed = 3; $0.n = 2 },
            make("queen, warm and good.", 30) { $0.sampling.temperature = 0; $0.stop = ["e", "a"] },
            make("how are you?", 12) { $0.sampling.temperature = 0; $0.logprobs = 5 },
            make("Assistant: the king is good and the", 40) {
                $0.seed = 11; $0.sampling.temperature = 0.7; $0.sampling.topK = 5; $0.sampling.presencePenalty = 0.5
                $0.sampling.frequencyPenalty = 0.3; $0.sampling.repetitionPenalty = 1.3
            },
            make(String(repeating: "the queen is warm. ", count: 3).prefix(50).description, 20) { $0.sampling.temperature = 0 },
            make("S", 18) { $0.seed = 5; $0.sampling.temperature = 1.2; $0.logprobs = 2; $0.stop = ["!"] },
        ]
    }

    /// A job's events per choice, as text: every piece, every logprob's bits, the finish.
    static func transcript(_ job: EngineJob) async -> [Int: String] {
        var out: [Int: String] = [:]
        for await event in job.events {
            switch event {
            case let .text(i, text, logprobs):
                out[i, default: ""] += "[\(text)]" + logprobs.map { e in
                    "\(e.token):\(e.logprob.bitPattern)(" + e.top.map { "\($0.token):\($0.logprob.bitPattern)" }.joined(separator: ",") + ")"
                }.joined()
            case let .finished(i, reason, count): out[i, default: ""] += " <\(reason) \(count)>"
            case let .failed(error): out[-1, default: ""] += "failed: \(error.message)"
            case .started, .keepAlive, .prompt: break
            }
        }
        return out
    }

    static func engine(prefillChunk: Int) async throws -> Engine {
        let engine = Engine(maxQueue: 64, maxBatch: 8, prefillChunk: prefillChunk)
        engine.start { try model() }
        let state = await engine.waitForLoad()
        XCTAssertEqual(state, .ready)
        return engine
    }

    func testEightConcurrentRequestsMatchEachRunAloneByteForByte() async throws {
        let requests = Self.requests()
        let single = try await Self.engine(prefillChunk: 32)
        var alone: [[Int: String]] = []
        for r in requests {
            let job = EngineJob(prompt: r.prompt, parameters: r.parameters, timeout: 600)
            try single.submit(job)
            alone.append(await Self.transcript(job))
        }
        single.shutdown()

        // Together: arriving a few milliseconds apart (later ones join running streams), prefilled
        // three tokens a step beside them; nine sequences for eight slots, so one request waits.
        let batched = try await Self.engine(prefillChunk: 3)
        var jobs: [EngineJob] = []
        for r in requests {
            let job = EngineJob(prompt: r.prompt, parameters: r.parameters, timeout: 600)
            try batched.submit(job)
            jobs.append(job)
            try await Task.sleep(nanoseconds: 3_000_000)
        }
        var together: [[Int: String]] = []
        for job in jobs { together.append(await Self.transcript(job)) }
        batched.shutdown()

        for i in requests.indices {
            XCTAssertEqual(together[i], alone[i], "request \(i)")
            XCTAssertNil(alone[i][-1], "request \(i) failed")
        }
        XCTAssertEqual(alone[2].count, 2, "n = 2 gives two choices")
        XCTAssertNotEqual(alone[2][0], alone[2][1], "each sample has its own generator")
        XCTAssert(alone[1][0]?.contains("(") ?? false, "logprobs were reported")
    }

    func testAGreedyRequestEqualsTheGenerator() async throws {
        let (prompt, parameters) = Self.requests()[0]
        let engine = try await Self.engine(prefillChunk: 32)
        let job = EngineJob(prompt: prompt, parameters: parameters, timeout: 600)
        try engine.submit(job)
        var served = "", reason = ""
        for await event in job.events {
            if case let .text(_, text, _) = event { served += text }
            if case let .finished(_, why, _) = event { reason = why }
        }
        engine.shutdown()
        var options = GenerationOptions()
        options.sampling.temperature = 0
        options.maxNewTokens = parameters.maxTokens!
        let loaded = try Self.model()
        let tokens = try Generator(model: loaded.model).generate(prompt: prompt, options: options)[0]
        let text = try loaded.tokenizer.decode(tokens.map(Int.init))
        XCTAssertEqual(served, text)
        XCTAssertEqual(reason, tokens.count == options.maxNewTokens ? "length" : "stop")
    }
}
