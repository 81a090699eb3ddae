// The chat templates: the exact text each renders, ids that decode back to that text,
// the target mask (assistant replies and their end token only), ChatML's special tokens
// added after every existing id and never produced from plain text.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class ChatTemplateTests: XCTestCase {
    static let conversation = [ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi there!"),
                               ChatMessage(role: .assistant, content: "Hello. How can I help?"),
                               ChatMessage(role: .user, content: "Say <|im_end|> twice\nplease"),
                               ChatMessage(role: .assistant, content: " ok  ok\n")]

    /// A small BPE trained here, plus ChatML's tokens.
    static func tokenizer() throws -> BytePairTokenizer {
        var counter = ChunkCounter()
        var text = String(repeating: "Hello there, how can I help you? Say it twice please. ok user assistant system\n", count: 20)
        text.withUTF8 { counter.add($0) }
        return try BPETrainer.train(counts: counter, vocabularySize: 290).adding(specialTokens: ChatMLTemplate().specialTokens)
    }

    func testChatMLRendersEachMessageBetweenStartAndEndTokens() {
        XCTAssertEqual(ChatMLTemplate().render(Array(Self.conversation.prefix(2))),
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n")
    }

    func testPlainTemplateKeepsItsUserAssistantLines() {
        XCTAssertEqual(PlainChatTemplate().render(Array(Self.conversation.prefix(3))),
                       "Be brief.\nUser: Hi there!\nAssistant: Hello. How can I help?\nAssistant:")
    }

    func testEncodedConversationDecodesToTheRenderedText() throws {
        let bpe = try Self.tokenizer()
        for template in [ChatMLTemplate(), PlainChatTemplate()] as [any ChatTemplate] {
            let encoder = try ChatEncoder(template: template, tokenizer: bpe)
            for prompt in [true, false] {
                let encoded = try encoder.encode(Self.conversation, generationPrompt: prompt)
                XCTAssertEqual(encoded.ids.count, encoded.isTarget.count)
                XCTAssertEqual(try bpe.decode(encoded.ids),
                               template.pieces(Self.conversation, generationPrompt: prompt).map(\.text).joined(), template.name)
            }
        }
    }

    /// The targets are exactly the assistant replies, each followed by its end token (ChatML) or newline (plain).
    func testTargetsAreTheAssistantRepliesOnly() throws {
        let bpe = try Self.tokenizer()
        let chatml = try ChatEncoder(template: ChatMLTemplate(), tokenizer: bpe).encode(Self.conversation, generationPrompt: false)
        let end = bpe.specialTokens[ChatMLTemplate.end]!
        // Group the target ids into runs; each run decodes to one reply and its end token.
        var runs: [[Int]] = [], current: [Int] = []
        for (id, target) in zip(chatml.ids, chatml.isTarget) {
            if target { current.append(id) } else if !current.isEmpty { runs.append(current); current = [] }
        }
        if !current.isEmpty { runs.append(current) }
        XCTAssertEqual(try runs.map { try bpe.decode($0) }, ["Hello. How can I help?<|im_end|>", " ok  ok\n<|im_end|>"])
        XCTAssertEqual(runs.map { $0.last }, [end, end])
        // weight 0 makes a reply context.
        var weighted = Self.conversation
        weighted[2].trained = false
        let masked = try ChatEncoder(template: ChatMLTemplate(), tokenizer: bpe).encode(weighted, generationPrompt: false)
        XCTAssertEqual(try bpe.decode(zip(masked.ids, masked.isTarget).filter { $0.1 }.map { $0.0 }), " ok  ok\n<|im_end|>")
        let plain = try ChatEncoder(template: PlainChatTemplate(), tokenizer: bpe).encode(Self.conversation, generationPrompt: false)
        XCTAssertEqual(try bpe.decode(zip(plain.ids, plain.isTarget).filter { $0.1 }.map { $0.0 }), " Hello. How can I help?\n  ok  ok\n\n")
    }

    func testSpecialTokensAreAddedAfterEveryIdAndNeverComeFromPlainText() throws {
        let gpt2 = try SharedData.gpt2()
        let chat = try XCTUnwrap(try ChatTokens.adding(ChatMLTemplate(), to: gpt2) as? BytePairTokenizer)
        XCTAssertEqual(chat.specialTokens, ["<|endoftext|>": 50256, "<|im_start|>": 50257, "<|im_end|>": 50258])
        XCTAssertEqual(chat.vocabularySize, 50259)
        let text = "<|im_start|>user\nhello<|im_end|>\n<|endoftext|> <|im_end|>"
        let plain = try chat.encode(text)
        XCTAssertEqual(plain, try gpt2.encode(text), "plain text encodes as before the tokens were added")
        XCTAssertFalse(plain.contains { $0 >= 50256 }, "no special id from plain text")
        XCTAssertEqual(chat.encode(text, allowedSpecial: ["<|im_start|>", "<|im_end|>"]).filter { $0 >= 50257 }, [50257, 50258, 50258])
        // Through the template a message's "<|im_end|>" stays text: the only special ids are the template's own.
        let encoded = try ChatEncoder(template: ChatMLTemplate(), tokenizer: chat).encode(Self.conversation, generationPrompt: true)
        XCTAssertEqual(encoded.ids.filter { $0 == 50257 }.count, 6)
        XCTAssertEqual(encoded.ids.filter { $0 == 50258 }.count, 5)
        // Our tokenizer file keeps them; a trained BPE takes them the same way.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("chat-tok-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try TokenizerFile.write(chat, to: file)
        XCTAssertEqual((try TokenizerFile.load(file) as? BytePairTokenizer)?.specialTokens, chat.specialTokens)
        let trained = try Self.tokenizer(), base = trained.specialTokens["<|endoftext|>"]!
        XCTAssertEqual(trained.specialTokens["<|im_start|>"], base + 1)
        XCTAssertEqual(trained.specialTokens["<|im_end|>"], base + 2)
        XCTAssertEqual(trained.vocabularySize, base + 3)
    }

    func testTemplateThatNeedsMissingTokensIsRefused() throws {
        let chars = CharTokenizer(characters: Array("abc ".unicodeScalars))
        XCTAssertThrowsError(try ChatEncoder(template: ChatMLTemplate(), tokenizer: chars)) {
            XCTAssertTrue("\($0)".contains("needs the special token <|im_start|>"), "\($0)")
        }
        XCTAssertThrowsError(try ChatTokens.adding(ChatMLTemplate(), to: chars))
        XCTAssertNoThrow(try ChatEncoder(template: PlainChatTemplate(), tokenizer: chars))
    }
}
