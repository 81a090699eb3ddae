// Chat fine-tuning: the loss counts assistant tokens only (checked against a direct
// per-token computation in Double), long conversations lose their oldest turns, a
// resumed run continues bit for bit, and (where transformers is installed) our export's
// chat_template gives our ids and the model our logits.
import Foundation
import XCTest
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer
import GPTTraining

final class ChatFineTuningTests: XCTestCase {
    static func tokenizer() throws -> BytePairTokenizer {
        var counter = ChunkCounter()
        var text = String(repeating: "Hello there, how are you? I am fine, thanks. What is AI? A field of science.\n", count: 20)
        text.withUTF8 { counter.add($0) }
        return try BPETrainer.train(counts: counter, vocabularySize: 300).adding(specialTokens: ChatMLTemplate().specialTokens)
    }

    static func conversations() -> [Conversation] {
        let pairs = [("Hello there", "Hi, how are you?"), ("What is AI?", "A field of science."), ("How are you?", "I am fine, thanks."),
                     ("Thanks", "Hello.")]
        return pairs.enumerated().map { i, pair in
            var messages = [ChatMessage(role: .user, content: pair.0), ChatMessage(role: .assistant, content: pair.1)]
            if i % 2 == 1 { messages.insert(ChatMessage(role: .system, content: "Be kind."), at: 0) }
            return Conversation(messages: messages, line: i + 1)
        }
    }

    func testLossCountsAssistantTokensOnly() throws {
        let bpe = try Self.tokenizer()
        let encoder = try ChatEncoder(template: ChatMLTemplate(), tokenizer: bpe)
        let examples = try ChatExamples(Self.conversations(), encoder: encoder, contextLength: 64)
        let config = GPTConfig(vocabSize: bpe.vocabularySize, contextLength: 64, embeddingSize: 32, layerCount: 1, headCount: 2)
        let model = try GPT(config: config, seed: 3, pool: ThreadPool(threads: 1))
        let b = examples.batch(Array(0..<examples.count), padding: 0)
        let loss = try XCTUnwrap(try model.forward(tokens: b.tokens, targets: b.targets, batch: b.batch, seq: b.seq))
        try model.forward(tokens: b.tokens, targets: nil, batch: b.batch, seq: b.seq)
        let logits = Array(model.logits), v = config.vocabSize
        // Independently: a target is a token after "<|im_start|>assistant\n", up to and including the next <|im_end|>.
        let start = bpe.specialTokens["<|im_start|>"]!, end = bpe.specialTokens["<|im_end|>"]!
        let header = try bpe.encode("assistant\n")
        var total = 0.0, count = 0
        for (row, ids) in examples.sequences.enumerated() {
            var inReply = false
            var t = 0
            while t < ids.count {
                if !inReply, ids[t] == Int32(start), Array(ids[(t + 1)...].prefix(header.count)).map(Int.init) == header {
                    inReply = true
                    t += 1 + header.count
                    continue
                }
                if inReply {
                    // Position t − 1 predicts token t.
                    let x = logits[((row * b.seq + t - 1) * v)..<((row * b.seq + t) * v)].map(Double.init)
                    let m = x.max()!
                    total += m + log(x.reduce(0) { $0 + exp($1 - m) }) - x[Int(ids[t])]
                    count += 1
                    if ids[t] == Int32(end) { inReply = false }
                }
                t += 1
            }
        }
        XCTAssertEqual(count, examples.targetTokens)
        XCTAssertEqual(count, b.targets.filter { $0 >= 0 }.count)
        XCTAssertEqual(Double(loss), total / Double(count), accuracy: 1e-5 * total / Double(count))
        print("chat loss mask: \(count) assistant tokens of \(examples.sequences.map(\.count).reduce(0, +)); loss \(loss) vs \(total / Double(count))")
    }

    func testLongConversationsLoseTheirOldestTurnsAndKeepTheLastReply() throws {
        let bpe = try Self.tokenizer()
        let encoder = try ChatEncoder(template: ChatMLTemplate(), tokenizer: bpe)
        var messages = [ChatMessage(role: .system, content: "Be kind.")]
        for i in 0..<6 {
            messages.append(ChatMessage(role: .user, content: "How are you? \(i)"))
            messages.append(ChatMessage(role: .assistant, content: "I am fine, thanks. \(i)"))
        }
        messages.append(ChatMessage(role: .user, content: "Bye"))  // after the last reply: dropped, teaches nothing
        let examples = try ChatExamples([Conversation(messages: messages, line: 1)], encoder: encoder, contextLength: 40)
        XCTAssertEqual(examples.count, 1)
        XCTAssertLessThanOrEqual(examples.sequences[0].count, 41)
        XCTAssertEqual(examples.truncatedConversations, 1)
        let kept = examples.conversations[0]
        XCTAssertEqual(kept.first?.role, .system, "the system message stays")
        XCTAssertEqual(kept.last?.content, "I am fine, thanks. 5", "the last reply stays whole")
        XCTAssertEqual(examples.droppedTurns, 13 - kept.count)
        XCTAssertEqual(try bpe.decode(examples.sequences[0].map(Int.init)),
                       ChatMLTemplate().pieces(kept, generationPrompt: false).map(\.text).joined())
    }

    func testResumedChatRunContinuesBitForBit() throws {
        let bpe = try Self.tokenizer()
        let encoder = try ChatEncoder(template: ChatMLTemplate(), tokenizer: bpe)
        let examples = try ChatExamples(Self.conversations(), encoder: encoder, contextLength: 32)
        let config = GPTConfig(vocabSize: bpe.vocabularySize, contextLength: 32, embeddingSize: 16, layerCount: 1, headCount: 2,
                               dropout: 0.1)
        var options = ChatTrainingOptions()
        options.steps = 6; options.batchSize = 3; options.learningRate = 1e-2; options.warmupSteps = 1; options.evalEvery = 0
        func trainer() throws -> ChatTrainer {
            try ChatTrainer(model: GPT(config: config, seed: 9, pool: ThreadPool(threads: 1)), train: examples, padding: 0, options: options)
        }
        let straight = try trainer()
        for _ in 0..<6 { _ = try straight.step() }
        let first = try trainer()
        for _ in 0..<3 { _ = try first.step() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try ChatCheckpoint.write(first, tokenizer: bpe, template: ChatMLTemplate(), to: directory)
        XCTAssertEqual(try ChatCheckpoint.template(of: directory).name, "chatml", "the checkpoint names its template")
        let resumed = try trainer()
        try ChatCheckpoint.restore(resumed, tokenizer: bpe, template: ChatMLTemplate(), from: directory)
        for _ in 0..<3 { _ = try resumed.step() }
        let a = UnsafeBufferPointer(start: straight.model.parameters, count: straight.model.layout.count)
        let b = UnsafeBufferPointer(start: resumed.model.parameters, count: resumed.model.layout.count)
        XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "resumed weights differ from the uninterrupted run's")
        XCTAssertThrowsError(try ChatCheckpoint.restore(resumed, tokenizer: bpe, template: PlainChatTemplate(), from: directory))
    }

    // MARK: transformers

    static let script = """
    import json, sys, torch
    from transformers import AutoTokenizer, GPT2LMHeadModel
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    messages = json.load(open(sys.argv[2]))
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if not isinstance(ids, list): ids = ids["input_ids"]
    model = GPT2LMHeadModel.from_pretrained(sys.argv[1]).float().eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    json.dump({"ids": ids, "logits": logits.flatten().tolist()}, open(sys.argv[3], "w"))
    """

    func python(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func testTransformersChatTemplateGivesOurIdsAndLogits() throws {
        guard (try? python(["-c", "import torch, transformers, jinja2"]).0) == 0 else {
            throw XCTSkip("python3 with torch, transformers and jinja2 is not installed: chat_template export not checked")
        }
        let bpe = try Self.tokenizer()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = GPTConfig(vocabSize: bpe.vocabularySize, contextLength: 96, embeddingSize: 32, layerCount: 2, headCount: 4)
        let model = try GPT(config: config, seed: 11, pool: ThreadPool(threads: 2))
        let messages = [ChatMessage(role: .system, content: "Be kind."), ChatMessage(role: .user, content: "Hello there, how are you?"),
                        ChatMessage(role: .assistant, content: "I am fine, thanks.\n\nAnd you?"),
                        ChatMessage(role: .user, content: " What is AI? ")]
        for template in [ChatMLTemplate(), PlainChatTemplate()] as [any ChatTemplate] {
            try HuggingFaceGPT2.save(model, to: directory, config: ChatCheckpoint.configJSON(config, template: template.name))
            try HuggingFaceTokenizerConfig.write(bpe, template: template, contextLength: 96, to: directory)
            let ours = try ChatEncoder(template: template, tokenizer: bpe).encode(messages, generationPrompt: true).ids
            let input = directory.appendingPathComponent("messages.json"), output = directory.appendingPathComponent("out.json")
            try JSONSerialization.data(withJSONObject: messages.map { ["role": $0.role.rawValue, "content": $0.content] }).write(to: input)
            let script = directory.appendingPathComponent("chat.py")
            try Self.script.write(to: script, atomically: true, encoding: .utf8)
            let (status, stderr) = try python([script.path, directory.path, input.path, output.path])
            XCTAssertEqual(status, 0, "the Python side failed: \(stderr)")
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
            XCTAssertEqual(result["ids"] as? [Int], ours, "apply_chat_template(add_generation_prompt=True) with the \(template.name) template")
            try model.forward(tokens: ours.map(Int32.init), targets: nil, batch: 1, seq: ours.count)
            let theirs = try XCTUnwrap(result["logits"] as? [Double]), mine = model.logits.map(Double.init)
            XCTAssertEqual(theirs.count, mine.count)
            let worst = zip(theirs, mine).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst / max(1, mine.map(abs).max() ?? 1), 1e-4)
            print("transformers chat template \(template.name): \(ours.count) ids equal; max |logit diff| \(worst)")
        }
    }
}
