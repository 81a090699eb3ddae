// The one owner of the model: a dedicated thread that loads it, then runs queued requests
// one at a time, each to its end. The kernels already use every core for one request, and
// running requests one at a time makes a request's answer independent of what else is
// queued: its sampler and RNG are its own (seeded from `seed`), and the forward passes
// it sees are exactly those it would see alone. Continuous batching (several requests'
// decode steps in one forward) is the next step (issue 13).
import Foundation
import GPTCore
import GPTGeneration
import GPTKernels
import GPTTokenizer

public final class Engine: @unchecked Sendable {
    public enum State: Sendable, Equatable { case loading, ready, failed(String), stopping }

    public let maxQueue: Int
    public let metrics = ServerMetrics()
    private let condition = NSCondition()
    private var queue: [EngineJob] = []
    private var running: EngineJob?
    private var _state = State.loading
    private var loaded: LoadedModel?
    private var thread: Thread?

    public init(maxQueue: Int) { self.maxQueue = maxQueue }

    public var state: State { condition.withLock { _state } }
    /// The model once loaded (its tokenizer and template are safe to read from any thread).
    public var model: LoadedModel? { condition.withLock { loaded } }
    /// Requests waiting, and whether one is running.
    public var depth: (queued: Int, running: Int) { condition.withLock { (queue.count, running == nil ? 0 : 1) } }
    /// Sequences being generated (a request with n > 1 runs n).
    public var runningSequences: Int { condition.withLock { running?.parameters.n ?? 0 } }

    /// Starts the engine's thread: `load` runs on it, then requests do.
    public func start(load: @escaping @Sendable () throws -> LoadedModel) {
        let thread = Thread { [self] in
            do {
                let model = try load()
                condition.withLock {
                    loaded = model
                    if _state == .loading { _state = .ready }
                }
            } catch {
                condition.withLock { _state = .failed("\(error)") }
                return
            }
            while let job = next() { run(job) }
        }
        thread.name = "gpt-serve-engine"
        // The kernels' recursion is shallow, but generation keeps a few arrays on the stack.
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    /// Queues `job`, or refuses it: 503 while loading, when the queue is full, or when stopping.
    public func submit(_ job: EngineJob) throws {
        try condition.withLock {
            switch _state {
            case .loading: throw APIError.unavailable("the model is still loading", code: "model_loading", retryAfter: 2)
            case let .failed(reason): throw APIError.unavailable("the model failed to load: \(reason)", code: "model_failed")
            case .stopping: throw APIError.unavailable("the server is shutting down", code: "shutting_down")
            case .ready: break
            }
            guard queue.count < maxQueue else {
                throw APIError.unavailable("the server is busy: \(queue.count) requests are waiting (--max-queue \(maxQueue))",
                                           code: "queue_full")
            }
            queue.append(job)
            condition.signal()
        }
    }

    /// Stops taking requests; queued ones fail, the running one ends at its next token
    /// with a final chunk ("length": it was cut short).
    public func shutdown() {
        let dropped: [EngineJob] = condition.withLock {
            _state = .stopping
            let jobs = queue
            queue.removeAll()
            condition.broadcast()
            return jobs
        }
        for job in dropped {
            job.continuation.yield(.failed(.unavailable("the server is shutting down", code: "shutting_down")))
            job.continuation.finish()
        }
    }

    /// Waits until loading has ended, in success or failure; returns the state then.
    public func waitForLoad() async -> State {
        while true {
            let now = state
            if now != .loading { return now }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    private func next() -> EngineJob? {
        condition.withLock {
            running = nil
            while queue.isEmpty && _state != .stopping { condition.wait() }
            guard _state != .stopping, !queue.isEmpty else { return nil }
            let job = queue.removeFirst()
            running = job
            return job
        }
    }

    private var stopping: Bool { condition.withLock { _state == .stopping } }

    private func run(_ job: EngineJob) {
        // Not running any more before the client can see its answer end (/metrics must agree with it).
        defer { condition.withLock { running = nil }; job.continuation.finish() }
        guard let loaded = model, !job.isCancelled else { return }
        if Date() > job.deadline {
            job.continuation.yield(.failed(.unavailable("the request waited longer than --request-timeout", code: "timeout")))
            return
        }
        let p = job.parameters, n = p.n, tokenizer = loaded.tokenizer
        var options = GenerationOptions()
        options.sampling = p.sampling
        // Without a seed each request draws its own; with one, the answer is reproducible.
        options.seed = p.seed ?? UInt64.random(in: 0...UInt64.max)
        options.maxNewTokens = p.maxTokens ?? max(1, loaded.model.config.contextLength - job.prompt.count)
        if let end = tokenizer.endOfTextID { options.stopTokens = [Int32(end)] }
        var scanners = [StopTextScanner](repeating: StopTextScanner(stops: p.stop + job.extraStops), count: n)
        var decoders = [StreamingTextDecoder](repeating: StreamingTextDecoder(), count: n)
        var counts = [Int](repeating: 0, count: n)
        var cut = [Bool](repeating: false, count: n)  // ended by us, not by the model or max_tokens
        var logprobs = [TokenLogs](repeating: TokenLogs(), count: n)
        var rows = [[Float]](repeating: [], count: n)
        let decode: (Int32) -> [UInt8] = { (try? tokenizer.decodeBytes([Int($0)])) ?? [] }
        let onLogits: ((Int, UnsafeBufferPointer<Float>) -> Void)? = p.logprobs == nil ? nil : { s, row in rows[s] = Array(row) }
        if let top = job.promptLogprobs {
            do {
                let first = (try? tokenizer.decodeBytes([Int(job.prompt[0])])) ?? []
                job.continuation.yield(.prompt(first: first, try loaded.promptLogprobs(job.prompt, top: top)))
            } catch {
                // The prompt was checked before queueing: what is left is the memory for a full-sequence pass.
                job.continuation.yield(.failed(.unavailable("scoring the prompt failed: \(error)", code: "scoring_failed")))
                return
            }
        }
        job.continuation.yield(.started)
        metrics.promptTokens.increment(by: Int64(job.prompt.count))
        var firstToken: Date?
        defer {
            let total = counts.reduce(0, +)
            metrics.completionTokens.increment(by: Int64(total))
            if let firstToken, total > 1 { metrics.timePerOutputToken.record(Date().timeIntervalSince(firstToken) / Double(total - 1)) }
        }
        do {
            _ = try Generator(model: loaded.model).generate(prompt: job.prompt, samples: n, options: options, onLogits: onLogits) { s, token in
                counts[s] += 1
                if firstToken == nil {
                    firstToken = Date()
                    self.metrics.timeToFirstToken.record(firstToken!.timeIntervalSince(job.arrival))
                }
                let bytes = decode(token)
                if let top = p.logprobs {
                    logprobs[s].add(TokenLogprob(token: token, logits: rows[s], top: top, decode: decode), byteCount: bytes.count)
                }
                let piece = decoders[s].push(bytes)
                let (ready, stopped) = scanners[s].append(piece)
                if !ready.isEmpty { job.continuation.yield(.text(index: s, ready, logprobs[s].release(ready))) }
                if stopped { return false }
                if job.isCancelled || self.stopping || Date() > job.deadline { cut[s] = true; return false }
                return true
            }
        } catch {
            // The prompt was checked before queueing; this is a broken invariant, reported, not fatal.
            job.continuation.yield(.failed(APIError(status: 500, message: "generation failed: \(error)", type: "server_error")))
            return
        }
        for s in 0..<n {
            if !scanners[s].stopped {
                let (ready, _) = scanners[s].append(decoders[s].finish())
                let rest = ready + scanners[s].flush()
                if !rest.isEmpty { job.continuation.yield(.text(index: s, rest, logprobs[s].release(rest))) }
            }
            // Tokens that began inside the kept text but end past it (a stop string cut them).
            let remaining = logprobs[s].remainder()
            if !remaining.isEmpty { job.continuation.yield(.text(index: s, "", remaining)) }
            // Fewer tokens than asked for and not cut by us: the model wrote end-of-text.
            let reason = scanners[s].stopped || (!cut[s] && counts[s] < options.maxNewTokens) ? "stop" : "length"
            job.continuation.yield(.finished(index: s, reason: reason, completionTokens: counts[s]))
        }
    }
}
