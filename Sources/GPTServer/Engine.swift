// The one owner of the model: a dedicated thread that loads it, then schedules requests
// by continuous batching over an `InferenceSession` of --max-batch cache slots. Each step
// is one forward pass holding one new token of every sequence that is generating (the
// GEMMs see M = running sequences) plus, within a small token budget, the next chunk of a
// prompt being prefilled, so running streams keep flowing while a request is admitted.
// A request waits in arrival order until as many slots are free as it has samples
// (`n`); each sample is a sequence with its own sampler and generator (seeded from
// `seed` as `gpt sample` seeds them). A sequence leaves its slot the step it ends: end of
// text, a stop string, max_tokens, its client gone, its deadline passed, or shutdown.
//
// Answers are batch-invariant: every kernel on the cached path computes a row
// independently of the other rows and of how a prompt is cut into chunks (see
// InferenceSession), so a request's tokens and logprobs are bit-identical whether it
// runs alone or beside any mix of others, and a greedy one equals `gpt sample
// --temperature 0`. Per-request state lives in the engine's sequences; the GEMM
// workspaces belong to the model's thread pool, which only this thread drives.
import Foundation
import GPTCore
import GPTGeneration
import GPTKernels
import GPTTokenizer

public final class Engine: @unchecked Sendable {
    public enum State: Sendable, Equatable { case loading, ready, failed(String), stopping }

    public let maxQueue: Int
    /// Cache slots: the most sequences generated together.
    public let maxBatch: Int
    /// Seconds without an event after which a waiting or prefilling request is sent a keep-alive.
    public let pingInterval: TimeInterval
    /// Prompt tokens prefilled per step while other sequences decode (more when none do): small
    /// enough that a step stays close to a decode step.
    public let prefillChunk: Int
    public let metrics = ServerMetrics()
    private let condition = NSCondition()
    private var queue: [EngineJob] = []
    private var runningJobs = 0, runningSeqs = 0
    private var _state = State.loading
    private var loaded: LoadedModel?
    private var thread: Thread?

    public init(maxQueue: Int, maxBatch: Int = 8, pingInterval: TimeInterval = 5, prefillChunk: Int = 32) {
        self.maxQueue = maxQueue
        self.maxBatch = max(1, maxBatch)
        self.pingInterval = pingInterval
        self.prefillChunk = max(1, prefillChunk)
    }

    public var state: State { condition.withLock { _state } }
    /// The model once loaded (its tokenizer and template are safe to read from any thread).
    public var model: LoadedModel? { condition.withLock { loaded } }
    /// Requests waiting, and requests running.
    public var depth: (queued: Int, running: Int) { condition.withLock { (queue.count, runningJobs) } }
    /// Sequences being generated (a request with n > 1 runs n), at most `maxBatch`.
    public var runningSequences: Int { condition.withLock { runningSeqs } }

    /// Starts the engine's thread: `load` runs on it, then the scheduler does.
    public func start(load: @escaping @Sendable () throws -> LoadedModel) {
        let thread = Thread { [self] in
            let scheduler: Scheduler
            do {
                let model = try load()
                model.model.isTraining = false
                // Rows per pass: a token per slot, plus the largest prefill chunk (when nothing decodes).
                let rows = min(maxBatch * model.model.config.contextLength, maxBatch + max(Scheduler.idlePrefill, prefillChunk))
                let session = try InferenceSession(model: model.model, batch: maxBatch, rows: rows)
                scheduler = Scheduler(engine: self, model: model, session: session)
                condition.withLock {
                    loaded = model
                    if _state == .loading { _state = .ready }
                }
            } catch {
                condition.withLock { _state = .failed("\(error)") }
                return
            }
            scheduler.run()
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
            guard job.parameters.n <= maxBatch else {
                throw APIError.invalid("n is \(job.parameters.n); this server runs at most \(maxBatch) sequences (--max-batch)", param: "n")
            }
            guard queue.count < maxQueue else {
                throw APIError.unavailable("the server is busy: \(queue.count) requests are waiting (--max-queue \(maxQueue))",
                                           code: "queue_full")
            }
            queue.append(job)
            condition.signal()
        }
    }

    /// Stops taking requests; queued ones fail, running ones end at the next step with a final
    /// chunk ("length": they were cut short).
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

    // MARK: The scheduler's side (engine thread only)

    /// Waits while there is nothing to do; then takes from the front of the queue the requests
    /// whose samples fit in `freeSlots` (in order: one that does not fit holds back those behind
    /// it). Returns nil when stopping.
    func admit(freeSlots: Int, busy: Bool) -> [EngineJob]? {
        condition.withLock {
            while queue.isEmpty && !busy && _state != .stopping { condition.wait() }
            guard _state != .stopping else { return nil }
            // Requests whose clients left are taken wherever they wait (start() ends them).
            var taken = queue.filter(\.isCancelled)
            queue.removeAll(where: \.isCancelled)
            var free = freeSlots
            while let job = queue.first, job.parameters.n <= free {
                queue.removeFirst()
                free -= job.parameters.n
                taken.append(job)
            }
            return taken
        }
    }

    /// Requests still queued, to be kept alive.
    func queued() -> [EngineJob] { condition.withLock { queue } }

    var isStopping: Bool { condition.withLock { _state == .stopping } }

    /// Updates what /metrics and `depth` report.
    func setRunning(jobs: Int, sequences: Int) { condition.withLock { runningJobs = jobs; runningSeqs = sequences } }
}
