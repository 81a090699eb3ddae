// One request as the engine sees it: the prompt's ids, the parameters, and the stream its
// events go to. The HTTP side cancels it (a client that went away); the engine checks
// `isCancelled` after every step, so a cancelled request frees its slots within one step.
import Foundation
import GPTGeneration

public enum EngineEvent: Sendable {
    /// With `promptLogprobs`, before `started`: the first prompt token's bytes (it has no logprob)
    /// and the logprobs of the others, each given those before it.
    case prompt(first: [UInt8], [TokenLogprob])
    /// The request left the queue and its prompt was run.
    case started
    /// Text of sample `index` now safe to show: whole characters, never part of a stop string;
    /// with logprobs, those of the tokens this text completes.
    case text(index: Int, String, [TokenLogprob])
    /// Sample `index` ended: "stop" (end-of-text or a stop string) or "length".
    case finished(index: Int, reason: String, completionTokens: Int)
    /// The request could not run (the server is shutting down, its time ran out).
    case failed(APIError)
    /// Nothing to send yet (the request waits or its prompt is being prefilled): a stream sends
    /// an SSE comment so that clients and proxies see the connection alive.
    case keepAlive
}

public final class EngineJob: @unchecked Sendable {
    public let prompt: [Int32]
    public let parameters: GenerationParameters
    /// Texts that end a sample besides `parameters.stop` (a chat template's turn end).
    public let extraStops: [String]
    /// Alternatives to report with each prompt token's logprob (completions' echo); nil: none.
    public let promptLogprobs: Int?
    public let deadline: Date
    public let arrival = Date()
    /// When the engine last sent a keep-alive while the job was queued (engine thread only).
    var lastKeepAlive = Date()
    let continuation: AsyncStream<EngineEvent>.Continuation
    public let events: AsyncStream<EngineEvent>
    private let lock = NSLock()
    private var cancelled = false

    public init(prompt: [Int32], parameters: GenerationParameters, extraStops: [String] = [], promptLogprobs: Int? = nil,
                timeout: TimeInterval) {
        self.prompt = prompt
        self.promptLogprobs = promptLogprobs
        self.parameters = parameters
        self.extraStops = extraStops
        deadline = Date(timeIntervalSinceNow: timeout)
        (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
        // The consumer stopped listening (the client disconnected): stop generating for it.
        continuation.onTermination = { [weak self] _ in self?.cancel() }
    }

    public func cancel() { lock.withLock { cancelled = true } }
    public var isCancelled: Bool { lock.withLock { cancelled } }
}
