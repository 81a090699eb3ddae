// Reading chat fine-tuning data: each refused input gets a message with its line, a
// weight-0 reply reads as context, and the hash hold-out takes about every tenth
// conversation, the same ones whatever the order of the lines.
import Foundation
import XCTest
import GPTData
import GPTTokenizer
import GPTTestSupport

final class ChatConversationsTests: XCTestCase {
    func refusal(_ line: String) -> String {
        let data = Data(("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n\n" + line + "\n").utf8)
        do {
            _ = try ChatConversations.parse(data, path: "chats.jsonl")
            return "accepted"
        } catch { return "\(error)" }
    }

    func testEachRefusedInputNamesItsLineAndTheFault() {
        let user = "{\"role\": \"user\", \"content\": \"hi\"}"
        XCTAssertEqual(refusal("{\"messages\": [\(user), {\"role\": \"robot\", \"content\": \"x\"}]}"),
                       "chats.jsonl:3: message 2 has the unknown role \"robot\" (system, user or assistant)")
        XCTAssertEqual(refusal("{\"messages\": []}"), "chats.jsonl:3: the conversation is empty (no messages)")
        XCTAssertEqual(refusal("{\"messages\": [\(user)]}"), "chats.jsonl:3: the conversation has no assistant turn")
        XCTAssertEqual(refusal("{\"messages\": [\(user), {\"role\": \"assistant\", \"content\": 42}]}"),
                       "chats.jsonl:3: message 2: \"content\" must be a string")
        XCTAssertEqual(refusal("{\"messages\": [\(user), {\"role\": \"assistant\", \"content\": null}]}"),
                       "chats.jsonl:3: message 2: \"content\" must be a string")
        XCTAssertEqual(refusal("{\"messages\": [\(user), {\"role\": \"assistant\", \"content\": \"a\", \"weight\": 0}]}"),
                       "chats.jsonl:3: every assistant turn has weight 0: nothing to learn")
        XCTAssertEqual(refusal("{\"messages\": [\(user), {\"role\": \"assistant\", \"content\": \"a\", \"weight\": 0.5}]}"),
                       "chats.jsonl:3: message 2: \"weight\" must be 0 or 1")
        XCTAssertEqual(refusal("[1, 2]"), "chats.jsonl:3: not a JSON object")
        XCTAssertEqual(refusal("{\"messages\": {}}"), "chats.jsonl:3: \"messages\" is not a list")
        XCTAssertEqual(refusal("{\"text\": \"x\"}"), "chats.jsonl:3: no \"messages\" field")
        XCTAssertEqual(refusal("{\"messages\": [\"hi\"]}"), "chats.jsonl:3: message 1 is not a JSON object")
    }

    func testWeightZeroMakesAReplyContext() throws {
        let line = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\", \"weight\": 0}, "
            + "{\"role\": \"user\", \"content\": \"c\"}, {\"role\": \"assistant\", \"content\": \"d\", \"weight\": 1}]}"
        let conversation = try XCTUnwrap(ChatConversations.parse(Data(line.utf8), path: "x").first)
        XCTAssertEqual(conversation.messages.map(\.trained), [true, false, true, true])
        XCTAssertEqual(conversation.line, 1)
    }

    func testHoldOutTakesAboutEveryTenthConversationByContent() throws {
        let all = try ChatConversations.read(SharedData.file("chatterbot-conversations.jsonl"))
        XCTAssertEqual(all.count, 899)
        let (train, test) = ChatConversations.split(all)
        XCTAssertEqual(train.count + test.count, 899)
        XCTAssertTrue((60...120).contains(test.count), "\(test.count) held out of 899")
        // The same conversations are held out when the file is read backwards.
        let reversed = ChatConversations.split(all.reversed()).test
        XCTAssertEqual(Set(reversed.map(\.line)), Set(test.map(\.line)))
        print("chat hold-out: \(test.count) of \(all.count) chatterbot conversations held out")
    }
}
