// `gpt chat`: talk to a chat model. On a terminal it is interactive (streamed replies,
// /reset, /system TEXT, /exit; Ctrl-C stops the reply, not the program); with piped
// input it reads one {"messages": [...]} object and prints the reply (with --json, the
// reply object of ../shared/CLI.md). The model is a checkpoint (its config names the
// template) or, with --server, a running `gpt serve`.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTGeneration
import GPTIO
import GPTKernels
import GPTNetwork
import GPTTokenizer
import GPTTraining
import Synchronization

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model: interactively, or one conversation from standard input.",
        discussion: """
        On a terminal: type a message and the reply streams back. /reset forgets the conversation, \
        /system TEXT sets the system message (and resets), /exit (or Ctrl-D) quits; Ctrl-C stops the \
        reply being written. The history is trimmed to the model's context, oldest turns first.
        Piped: standard input holds one JSON object {"messages": [{"role": ..., "content": ...}]}; \
        the reply is printed (--json: {"message": {"role": "assistant", "content": ...}, "ids": [...]}).
        The template is the checkpoint's (chatml after gpt finetune chat, else plain).
        Examples:
          gpt chat --checkpoint runs/chat
          echo '{"messages": [{"role": "user", "content": "Hello"}]}' \\
              | gpt chat --checkpoint runs/chat --json
          gpt chat --server http://127.0.0.1:8080
        """)

    @Option(help: "A checkpoint directory, or a run directory whose checkpoint/ it takes.") var checkpoint: String?
    @Option(help: "The base URL of a running gpt serve (instead of --checkpoint).") var server: String?
    @Option(help: "API key for --server (default: GPT_API_KEY).") var apiKey: String?
    @Option(help: "chatml or plain (default: the template the checkpoint's config names).") var template: String?
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the checkpoint's).") var tokenizer: String?
    @Option(help: "A system message to start with.") var system: String?
    @Option(parsing: .unconditional, help: "Most tokens per reply.") var maxNewTokens = 256
    @Option(help: "Softmax temperature; 0 is greedy.") var temperature: Float = 0.7
    @Option(help: "Keep only the K most likely tokens.") var topK: Int?
    @Option(help: "Keep the most likely tokens up to probability P.") var topP: Float?
    @Option(help: "Seed for sampling.") var seed: UInt64 = 1337
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard (checkpoint == nil) != (server == nil) else { throw ValidationError("give one of --checkpoint DIR and --server URL") }
        guard (1...1_000_000).contains(maxNewTokens) else { throw ValidationError("--max-new-tokens must be in 1...1000000") }
        try SamplingOptions(temperature: temperature, topK: topK, topP: topP).validate()
        if let template, ChatTemplates.named(template) == nil {
            throw ValidationError(ChatTemplateError.unknownTemplate(name: template).description)
        }
        if let server, URL(string: server)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw ValidationError("--server must be an http:// or https:// URL, got \(server)")
        }
    }

    func run() throws {
        let backend = try makeBackend()
        if isatty(STDIN_FILENO) == 0 { try answerPiped(backend) } else { try converse(backend) }
    }

    // MARK: Backends

    /// Where replies come from: `reply(messages, onText)` returns the text and, for a local model, the ids.
    struct Backend {
        var describe: String
        var reply: ([ChatMessage], @escaping (String) -> Bool) throws -> (text: String, ids: [Int]?, dropped: Int)
        var cancel: () -> Void = {}
    }

    func makeBackend() throws -> Backend {
        if let server {
            let client = ChatCompletionsClient(server: URL(string: server)!,  // validate() parsed it
                                               apiKey: apiKey ?? ProcessInfo.processInfo.environment["GPT_API_KEY"])
            var parameters: [String: Any] = ["max_tokens": maxNewTokens, "temperature": Double(temperature), "seed": seed]
            if let topK { parameters["top_k"] = topK }
            if let topP { parameters["top_p"] = Double(topP) }
            return Backend(describe: server, reply: { messages, onText in
                let text = try client.send(messages: messages.map { ["role": $0.role.rawValue, "content": $0.content] },
                                           parameters: parameters, onText: { _ = onText($0) })
                return (text, nil, 0)
            }, cancel: client.cancel)
        }
        let directory = CheckpointLocation.resolve(checkpoint!)  // validate() required one of the two
        let model = try HuggingFaceGPT2.load(directory: directory, pool: try ThreadPool(threads: threading.threads))
        let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
        try VocabularyCheck.check(tokens, modelVocabulary: model.config.vocabSize, use: .encode)
        let chatTemplate = try template.map { ChatTemplates.named($0)! } ?? ChatCheckpoint.template(of: directory)
        let replier = ChatReplier(model: model, encoder: try ChatEncoder(template: chatTemplate, tokenizer: tokens))
        var options = GenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP)
        options.seed = seed
        return Backend(describe: "\(directory.path) (template \(chatTemplate.name))", reply: { messages, onText in
            let reply = try replier.reply(to: messages, options: options, onText: onText)
            options.seed &+= 1  // each turn draws afresh, the whole chat still fixed by --seed
            return (reply.text, reply.ids, reply.droppedMessages)
        })
    }

    // MARK: Piped

    func answerPiped(_ backend: Backend) throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let messages = try Self.parseMessages(input)
        let reply = try backend.reply(messages) { _ in true }
        if output.json {
            var object: [String: Any] = ["message": ["role": "assistant", "content": reply.text]]
            if let ids = reply.ids { object["ids"] = ids }
            try printJSONLine(object)
        } else {
            StandardStreams.output(reply.text + "\n")
        }
    }

    /// `{"messages": [{"role": ..., "content": ...}, ...]}` from standard input, refused with one line that says what is wrong.
    static func parseMessages(_ data: Data) throws -> [ChatMessage] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandError("standard input must hold one JSON object {\"messages\": [...]}")
        }
        guard let list = object["messages"] as? [Any], !list.isEmpty else {
            throw CommandError("standard input: \"messages\" must be a non-empty list")
        }
        return try list.enumerated().map { index, item in
            guard let message = item as? [String: Any], let roleName = message["role"] as? String,
                  let role = ChatMessage.Role(rawValue: roleName == "developer" ? "system" : roleName) else {
                throw CommandError("standard input: message \(index + 1) needs a role of system, user or assistant")
            }
            guard let content = message["content"] as? String else {
                throw CommandError("standard input: message \(index + 1): \"content\" must be a string")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    // MARK: Interactive

    func converse(_ backend: Backend) throws {
        let interrupted = InterruptFlag()
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            interrupted.raised.store(true, ordering: .relaxed)
            backend.cancel()
        }
        source.resume()
        defer { source.cancel(); signal(SIGINT, SIG_DFL) }
        let start: [ChatMessage] = system.map { [ChatMessage(role: .system, content: $0)] } ?? []
        var history = start
        StandardStreams.error("chatting with \(backend.describe); /reset, /system TEXT, /exit; Ctrl-C stops a reply\n")
        while true {
            StandardStreams.output("> ")
            guard let line = readLine() else { StandardStreams.output("\n"); return }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" || text == "/quit" { return }
            if text == "/reset" { history = start; StandardStreams.error("(conversation reset)\n"); continue }
            if text.hasPrefix("/system") {
                let content = text.dropFirst("/system".count).trimmingCharacters(in: .whitespaces)
                history = content.isEmpty ? [] : [ChatMessage(role: .system, content: content)]
                StandardStreams.error(content.isEmpty ? "(system message cleared; conversation reset)\n" : "(system message set; conversation reset)\n")
                continue
            }
            history.append(ChatMessage(role: .user, content: text))
            interrupted.raised.store(false, ordering: .relaxed)
            let reply = try backend.reply(history) { piece in
                StandardStreams.output(piece)
                return !interrupted.raised.load(ordering: .relaxed)
            }
            StandardStreams.output("\n")
            if interrupted.raised.load(ordering: .relaxed) { StandardStreams.error("(reply stopped)\n") }
            if reply.dropped > 0 {
                let first = history.first?.role == .system ? 1 : 0
                history.removeSubrange(first..<min(history.count - 1, first + reply.dropped))
                StandardStreams.error("(the \(reply.dropped) oldest messages no longer fit the context and were dropped)\n")
            }
            history.append(ChatMessage(role: .assistant, content: reply.text))
        }
    }
}

/// Set by Ctrl-C while a reply is written (a class: the signal handler and the reply callback share it).
final class InterruptFlag: Sendable {
    let raised = Atomic<Bool>(false)
}
