// `gpt finetune chat` and `gpt chat` end to end on a tiny BPE model: fine-tune (ChatML
// tokens added, template recorded), answer one piped conversation (--json per CLI.md),
// converse through a pseudo-terminal (python's pty), and refuse bad data with its line.
import Foundation
import XCTest

extension CommandLineTests {
    static let chatLines = (0..<40).map { i -> String in
        let pairs = [("Hello there", "Hi, how are you?"), ("What is AI?", "A field of science."), ("How are you?", "I am fine, thanks.")]
        let (user, assistant) = pairs[i % pairs.count]
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"\(user) \(i)\"}, {\"role\": \"assistant\", \"content\": \"\(assistant)\"}]}"
    }

    /// A 1-layer BPE model pre-trained briefly, fine-tuned on chats; returns the fine-tune's run directory.
    func chatModel() throws -> String {
        let corpus = work.appendingPathComponent("corpus.txt")
        try String(repeating: "Hello there, how are you? I am fine, thanks. What is AI? A field of science.\n", count: 60)
            .write(to: corpus, atomically: true, encoding: .utf8)
        let tok = work.appendingPathComponent("tok.json").path
        var (status, _, err) = try gpt("tokenizer", "train", corpus.path, "--vocab-size", "300", "--out", tok)
        XCTAssertEqual(status, 0, err)
        let base = work.appendingPathComponent("base").path
        (status, _, err) = try gpt("train", "--data", corpus.path, "--tokenizer", tok, "--steps", "10", "--eval-every", "0",
                                   "--set", "n_layer=1", "--set", "n_positions=64", "--out", base)
        XCTAssertEqual(status, 0, err)
        let chats = try write("chats.jsonl", Self.chatLines)
        let out = work.appendingPathComponent("chat").path
        let (finetuneStatus, stdout, finetuneErr) = try gpt("finetune", "chat", "--checkpoint", base, "--train", chats, "--out", out,
                                                            "--steps", "30", "--eval-every", "15", "--batch-size", "8",
                                                            "--learning-rate", "3e-3", "--json")
        XCTAssertEqual(finetuneStatus, 0, finetuneErr)
        XCTAssertTrue(stdout.contains("added <|im_start|> <|im_end|>"), stdout)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.split(separator: "\n").last!.utf8)) as? [String: Any])
        XCTAssertNotNil(result["test_loss"] as? Double)
        XCTAssertEqual((result["train_conversations"] as? Int ?? 0) + (result["test_conversations"] as? Int ?? 0), 40)
        let config = try String(contentsOfFile: out + "/checkpoint/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"chat_template_name\" : \"chatml\""), config)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/loss.svg"))
        return out
    }

    func testFinetuneChatThenChatPipedAndThroughATerminal() throws {
        let run = try chatModel()
        // Piped: one conversation in, the reply object out.
        let input = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello there\"}]}"
        let process = Process()
        process.executableURL = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        process.arguments = ["chat", "--checkpoint", run, "--json", "--max-new-tokens", "12"]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin; process.standardOutput = stdout; process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, err)
        let reply = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.split(separator: "\n").last!.utf8)) as? [String: Any])
        let message = try XCTUnwrap(reply["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        let ids = try XCTUnwrap(reply["ids"] as? [Int])
        XCTAssertLessThanOrEqual(ids.count, 12)
        XCTAssertFalse((message["content"] as? String ?? "<|im_end|>").contains("<|im_end|>"), "the reply stops at <|im_end|>")
        print("gpt chat piped: \(out.split(separator: "\n").last!)")

        // A pseudo-terminal: two turns, /system, /reset, /exit.
        let script = """
        import os, pty, sys, time
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(sys.argv[1], [sys.argv[1], "chat", "--checkpoint", sys.argv[2], "--max-new-tokens", "8"])
        out = b""
        def read_until(marker, seconds=60):
            global out
            end = time.time() + seconds
            while time.time() < end:
                try: chunk = os.read(fd, 4096)
                except OSError: return False
                if not chunk: return False
                out += chunk
                if out.count(b"> ") >= marker: return True
            return False
        ok = read_until(1)
        for n, line in enumerate([b"Hello there\\n", b"/system Be kind.\\n", b"What is AI?\\n", b"/reset\\n"], start=2):
            os.write(fd, line); ok = ok and read_until(n)
        os.write(fd, b"/exit\\n")
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(out.decode("utf-8", "replace"))
        sys.exit(0 if ok and os.WEXITSTATUS(status) == 0 else 1)
        """
        let scriptURL = work.appendingPathComponent("chat_terminal.py")  // not pty.py: that would shadow the module
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", scriptURL.path, process.executableURL!.path, run]
        let pyOut = Pipe()
        python.standardOutput = pyOut
        try python.run()
        let transcript = String(decoding: pyOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        XCTAssertEqual(python.terminationStatus, 0, transcript)
        XCTAssertTrue(transcript.contains("(system message set; conversation reset)"), transcript)
        XCTAssertTrue(transcript.contains("(conversation reset)"), transcript)
        print("gpt chat through a pty:\n\(transcript)")
    }

    func testFinetuneChatRefusesBadConversationsWithTheirLine() throws {
        let base = try pretrained()
        for (line, message) in [("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", ":2: the conversation has no assistant turn"),
                                ("{\"messages\": [{\"role\": \"bot\", \"content\": \"hi\"}]}", ":2: message 1 has the unknown role \"bot\""),
                                ("{\"messages\": []}", ":2: the conversation is empty"),
                                ("{\"messages\": [{\"role\": \"assistant\", \"content\": [1]}]}", ":2: message 1: \"content\" must be a string")] {
            let chats = try write("bad.jsonl", [Self.chatLines[0], line])
            let (status, _, err) = try gpt("finetune", "chat", "--checkpoint", base, "--train", chats, "--test", chats,
                                           "--out", work.appendingPathComponent("bad").path, "--template", "plain")
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(err.contains(message), err)
            XCTAssertEqual(err.split(separator: "\n").count, 1, "one line: \(err)")
        }
        // ChatML on a character-level model cannot add its tokens.
        let chats = try write("ok.jsonl", Array(Self.chatLines.prefix(3)))
        let (status, _, err) = try gpt("finetune", "chat", "--checkpoint", base, "--train", chats, "--test", chats,
                                       "--out", work.appendingPathComponent("char").path)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("needs the special token <|im_start|>"), err)
    }
}
