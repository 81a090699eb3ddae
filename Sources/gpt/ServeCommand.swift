// `gpt serve`: an OpenAI-compatible HTTP server for a checkpoint. Parsing and wiring only;
// the server is GPTServer.
import ArgumentParser
import Foundation
import GPTIO
import GPTServer
import GPTTraining
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a checkpoint over OpenAI's HTTP API (/v1/completions, /v1/chat/completions, /v1/models).",
        discussion: """
        Binds to 127.0.0.1 unless --host says otherwise, and prints the URL when the model is ready. \
        /health answers 503 while the model loads, then 200. Requests are batched continuously: each \
        step decodes a token of up to --max-batch sequences in one forward pass while waiting prompts \
        are prefilled in chunks, and an answer is bit-identical to the same request run alone. At most \
        --max-queue requests wait, more are refused with 503 and Retry-After. SIGINT or SIGTERM \
        stops accepting requests, ends open streams with a final chunk and exits 0. \
        GET / is a chat page that streams from /v1/chat/completions.
        Examples:
          gpt serve --checkpoint runs/demo
          gpt serve --checkpoint hf:gpt2    # Hugging Face cache; downloads if missing
          GPT_API_KEY=secret gpt serve --checkpoint gpt2-dir --tokenizer gpt2 \\
              --port 8000 --model-name gpt2
        """)

    @OptionGroup var source: CheckpointOption
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the one in the checkpoint).") var tokenizer: String?
    @Option(help: "Address to listen on; 0.0.0.0 exposes the server to the network.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on (0: any free port).") var port = 8080
    @Option(help: "The model name clients pass and /v1/models lists (default: the checkpoint's directory name).")
    var modelName: String?
    @Option(help: "Require Authorization: Bearer KEY (default: the GPT_API_KEY environment variable; none if unset).")
    var apiKey: String?
    @Option(parsing: .unconditional, help: "The most sequences decoded together (the largest n a request may ask for).")
    var maxBatch = 8
    @Option(parsing: .unconditional, help: "Requests that may wait; more get 503 with Retry-After.") var maxQueue = 64
    @Option(help: "The largest request body: bytes, or with KB, MB, GB.") var maxBody = "1MB"
    @Option(parsing: .unconditional, help: "Seconds a request may take, waiting included.") var requestTimeout: Double = 600
    @Option(parsing: .unconditional, help: "Seconds between ': ping' comments on a stream still waiting for its first token.")
    var pingInterval: Double = 5
    @Option(parsing: .unconditional, help: "Prompt tokens prefilled per step while other streams decode (latency against admission speed).")
    var prefillChunk = 32
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var weights: WeightFormatOption

    func settings() throws -> ServerConfiguration {
        var settings = ServerConfiguration()
        settings.host = host
        settings.port = port
        let directory = CheckpointLocation.displayName(source.checkpoint)
        settings.modelName = modelName ?? (directory.isEmpty || directory == "/" ? "gpt" : directory)
        settings.apiKey = apiKey ?? ProcessInfo.processInfo.environment["GPT_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        settings.maxBatch = maxBatch
        settings.maxQueue = maxQueue
        guard let bytes = ServerConfiguration.parseByteCount(maxBody) else {
            throw ValidationError("--max-body must be a byte count like 1048576, 512KB or 1MB, got \(maxBody)")
        }
        settings.maxBody = bytes
        settings.requestTimeout = requestTimeout
        settings.pingInterval = pingInterval
        settings.prefillChunk = prefillChunk
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        return settings
    }

    func validate() throws { _ = try settings() }

    func run() async throws {
        let settings = try settings()
        let engine = Engine(maxQueue: settings.maxQueue, maxBatch: settings.maxBatch, pingInterval: settings.pingInterval,
                            prefillChunk: settings.prefillChunk)
        let (checkpoint, tokenizer, threads, dtype) = (source.checkpoint, self.tokenizer, threading.threads, weights.dtype)
        engine.start { try LoadedModel.load(checkpoint: checkpoint, tokenizer: tokenizer, threads: threads, weightFormat: dtype) }
        var logger = Logger(label: "gpt-serve")
        logger.logLevel = .warning
        let server = OpenAIServer(configuration: settings, engine: engine)
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        try await server.run(logger: logger) { port in
            StandardStreams.error("listening on http://\(host):\(port) (loading the model)\n")
            switch await engine.waitForLoad() {
            case .ready: StandardStreams.output("serving \(settings.modelName) at http://\(host):\(port)/v1\n")
            case .failed:
                // Nothing can be served: stop the way a signal would, and let run() report the error.
                kill(getpid(), SIGTERM)
            default: break
            }
        }
        if case let .failed(reason) = engine.state { throw CommandError("the model failed to load: \(reason)") }
    }
}
