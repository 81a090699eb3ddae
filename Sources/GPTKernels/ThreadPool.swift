// A persistent pool of worker threads for the kernels.
//
// Every parallel kernel splits its work statically: worker w of n always gets the
// same slice, and no reduction order depends on timing. Results are therefore
// bit-identical run to run for a given thread count, which exact resume relies on.
// Dispatch is a generation counter that idle workers spin on briefly (a training
// step issues hundreds of short parallel regions) before sleeping on a condition.
// A pool is driven by one thread at a time; models on different pools run side by
// side (each pool owns its kernels' scratch, e.g. GEMM's packing buffers).
import Foundation
import Synchronization

public final class ThreadPool: @unchecked Sendable {
    /// Number of workers, the calling thread included.
    public let threadCount: Int
    private let shared = SharedState()
    private var inRegion = false
    /// GEMM's packing buffers: they belong to the pool, since a pool runs one region at a time.
    let gemmWorkspace = GEMMWorkspace()

    /// Spin iterations before an idle worker sleeps (~50 µs on this class of CPU).
    fileprivate static let spinLimit = 20_000

    /// The most threads a pool may have: 4 per core (beyond that they only contend), at most 1,024.
    public static var maxThreads: Int { min(1024, 4 * max(1, coreCount)) }

    /// Creates a pool of `threads` workers (default: one per core), the calling thread being one.
    /// Throws if `threads` is outside 1...maxThreads, or if a worker cannot be started (a pids or
    /// address-space limit): the error says how many started, and those are stopped again.
    /// `stackSize` is each worker's stack in bytes.
    public init(threads: Int = ThreadPool.coreCount, stackSize: Int = 8 << 20) throws {
        guard threads >= 1 && threads <= Self.maxThreads else {
            throw ThreadPoolError.invalidThreadCount(requested: threads, limit: Self.maxThreads)
        }
        threadCount = threads
        for worker in 1..<threads {
            let code = Self.startWorker(shared, worker, stackSize: stackSize)
            if code != 0 {
                stopWorkers()
                throw ThreadPoolError.startFailed(requested: threads, started: worker, code: code)
            }
        }
    }

    /// Starts worker `worker` on its own detached pthread (Foundation's Thread cannot report a failed
    /// start, and a pool waiting for a worker that never came would hang); returns pthread's error code.
    private static func startWorker(_ state: SharedState, _ worker: Int, stackSize: Int) -> Int32 {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        let sizeCode = pthread_attr_setstacksize(&attributes, stackSize)
        if sizeCode != 0 { return sizeCode }
        let start = Unmanaged.passRetained(WorkerStart(state: state, worker: worker))
        var thread = pthread_t()
        let code = pthread_create(&thread, &attributes, { argument in
            let start = Unmanaged<WorkerStart>.fromOpaque(argument!).takeRetainedValue()
            start.state.workerLoop(start.worker)
            return nil
        }, start.toOpaque())
        if code != 0 { start.release(); return code }
        pthread_detach(thread)
        return 0
    }

    private func stopWorkers() {
        shared.stopping.store(true, ordering: .releasing)
        shared.lock.lock(); shared.lock.broadcast(); shared.lock.unlock()
    }

    deinit { stopWorkers() }

    /// Cores available to this process.
    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Runs `body(worker)` once on every worker, the caller being worker 0, and
    /// returns when all have finished. A nested call runs serially on the caller.
    public func run(_ body: (Int) -> Void) {
        if threadCount == 1 || inRegion {
            for w in 0..<threadCount { body(w) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            inRegion = true
            shared.job = escapable
            shared.pending.store(threadCount - 1, ordering: .relaxed)
            shared.generation.add(1, ordering: .releasing)
            shared.lock.lock(); shared.lock.broadcast(); shared.lock.unlock()
            escapable(0)
            var spins = 0
            while shared.pending.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > ThreadPool.spinLimit { sched_yield() }
            }
            shared.job = nil
            inRegion = false
        }
    }

    /// Splits `0..<count` into `threadCount` contiguous ranges whose bounds are
    /// multiples of `granule` and runs `body` on each range in parallel.
    public func parallelFor(_ count: Int, granule: Int = 1, _ body: (Range<Int>) -> Void) {
        parallelFor(count, granule: granule) { range, _ in body(range) }
    }

    /// As `parallelFor(_:granule:_:)`, also passing the index of the worker that runs
    /// the range (for per-worker scratch memory).
    public func parallelFor(_ count: Int, granule: Int = 1, _ body: (Range<Int>, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + granule - 1) / granule
        let workers = min(threadCount, chunks)
        if workers == 1 { body(0..<count, 0); return }
        run { w in
            guard w < workers else { return }
            let range = ThreadPool.staticRange(chunks: chunks, workers: workers, worker: w)
            let lo = min(count, range.lowerBound * granule)
            let hi = min(count, range.upperBound * granule)
            if lo < hi { body(lo..<hi, w) }
        }
    }

    /// As `parallelFor(_:granule:_:)`, but workers claim `granule`-sized ranges one at a time from a
    /// shared counter instead of owning a fixed slice, so a worker the system pauses (another process
    /// or the server's own I/O threads taking its core) delays the region by less: the others take
    /// its remaining ranges. Which worker runs a range then depends on timing, so `body` must compute
    /// each range's results alone, in an order fixed by the range (no reduction across ranges).
    public func parallelForClaiming(_ count: Int, granule: Int, _ body: (Range<Int>, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + granule - 1) / granule
        if min(threadCount, chunks) == 1 { body(0..<count, 0); return }
        let shared = shared
        shared.claim.store(0, ordering: .relaxed)
        run { w in
            while true {
                let chunk = shared.claim.add(1, ordering: .relaxed).oldValue
                guard chunk < chunks else { return }
                body((chunk * granule)..<min(count, (chunk + 1) * granule), w)
            }
        }
    }

    /// The slice of `chunks` that `worker` of `workers` owns: as equal as possible,
    /// earlier workers taking the remainder.
    public static func staticRange(chunks: Int, workers: Int, worker: Int) -> Range<Int> {
        let base = chunks / workers, extra = chunks % workers
        let lo = worker * base + min(worker, extra)
        return lo..<(lo + base + (worker < extra ? 1 : 0))
    }
}

public enum ThreadPoolError: Error, CustomStringConvertible, Equatable {
    case invalidThreadCount(requested: Int, limit: Int)
    /// Only `started` of `requested` threads (the caller included) could be started.
    case startFailed(requested: Int, started: Int, code: Int32)

    public var description: String {
        switch self {
        case let .invalidThreadCount(requested, limit):
            return "a thread pool of \(requested) threads: must be in 1...\(limit) (4 per core, at most 1,024)"
        case let .startFailed(requested, started, code):
            return "could start only \(started) of \(requested) threads (pthread_create: \(String(cString: strerror(code)))); "
                + "use fewer threads or raise the process's thread or memory limits"
        }
    }
}

/// What a new worker thread is handed.
private final class WorkerStart {
    let state: SharedState
    let worker: Int
    init(state: SharedState, worker: Int) { self.state = state; self.worker = worker }
}

/// What the workers share with the pool; kept apart so that workers never hold the
/// pool itself and it can be released while they sleep.
private final class SharedState: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let pending = Atomic<Int>(0)
    /// The next range to claim in `parallelForClaiming` (one region runs at a time).
    let claim = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let lock = NSCondition()
    var job: ((Int) -> Void)?

    func workerLoop(_ worker: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < ThreadPool.spinLimit {
                if stopping.load(ordering: .relaxed) { return }
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                lock.lock()
                while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                    lock.wait()
                }
                lock.unlock()
                if stopping.load(ordering: .relaxed) { return }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            job?(worker)
            pending.subtract(1, ordering: .releasing)
        }
    }
}
