// A persistent pool of worker threads for the kernels.
//
// A parallel region is a list of tasks (contiguous ranges of the work, fixed by the
// count, the granule and the thread count, never by timing) that the threads claim one
// at a time from a shared ticket, the calling thread included. Every task computes its
// own outputs in an order fixed by its range, so which thread runs it changes no result:
// results are bit-identical run to run, which exact resume relies on.
//
// Why claiming rather than a static slice per thread: on a shared machine another process
// may hold one of our cores for a whole scheduler time slice (milliseconds, against regions
// of tens of microseconds). With static slices every region then waited for the paused
// thread (issue 18: the Shakespeare model fell from 1.9x to 1.1x PyTorch's speed with one
// core busy). Here a region ends when its last task is done: the threads that run take the
// paused thread's tasks, and a worker that wakes after the region has ended finds the ticket
// of a finished region and claims nothing (the ticket packs the region's generation, its task
// count and the next task, and is claimed by compare-and-swap, so a late worker can never take
// a task of the next region by mistake).
//
// Idle workers spin briefly on the ticket (a training step issues hundreds of short regions)
// and then sleep on a condition; the caller wakes sleepers only when there are any.
// A pool is driven by one thread at a time; models on different pools run side by
// side (each pool owns its kernels' scratch, e.g. GEMM's packing buffers).
import Foundation
import Synchronization

public final class ThreadPool: @unchecked Sendable {
    /// Number of workers, the calling thread included.
    public let threadCount: Int
    private let shared = SharedState()
    private var inRegion = false
    /// The last region's generation, 32 bits (only the driving thread changes it).
    private var generation: UInt64 = 0
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

    /// Runs `body(worker)` once for every worker index 0..<threadCount and returns when all
    /// have finished. Each index runs on one thread at a time, but a thread may run several
    /// (when another is paused by the system), so `body` must not wait for another index.
    /// A nested call runs serially on the caller.
    public func run(_ body: (Int) -> Void) {
        runTasks(threadCount) { task, _ in body(task) }
    }

    /// Runs `body(task, thread)` for every task in 0..<tasks, claimed by whichever thread is free
    /// (`thread` indexes per-thread scratch memory); returns when every task has finished.
    private func runTasks(_ tasks: Int, _ body: (_ task: Int, _ thread: Int) -> Void) {
        if threadCount == 1 || tasks == 1 || inRegion {
            for task in 0..<tasks { body(task, 0) }
            return
        }
        precondition(tasks <= Ticket.maxTasks, "a region of \(tasks) tasks")
        withoutActuallyEscaping(body) { escapable in
            inRegion = true
            let shared = shared
            shared.job = escapable
            shared.finished.store(0, ordering: .relaxed)
            generation = (generation &+ 1) & 0xFFFF_FFFF
            let first = Ticket.make(generation: generation, tasks: tasks)
            // Sequentially consistent, with the load of `sleepers` after it: a worker going to sleep
            // either sees this ticket or is counted in `sleepers` (and then waits under the lock).
            shared.ticket.store(first, ordering: .sequentiallyConsistent)
            if shared.sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                shared.lock.lock(); shared.lock.broadcast(); shared.lock.unlock()
            }
            shared.claimAll(generation: generation, thread: 0)
            var spins = 0
            while shared.finished.load(ordering: .acquiring) != tasks {
                // The tasks left are running on threads the system may have paused: let them run.
                spins += 1
                if spins > ThreadPool.spinLimit { sched_yield() }
            }
            shared.job = nil
            inRegion = false
        }
    }

    /// How many tasks a region is cut into per thread: enough that when one thread is paused the
    /// others can take over most of its share, few enough that claiming costs nothing measurable.
    static let tasksPerThread = 4

    /// Splits `0..<count` into contiguous ranges whose bounds are multiples of `granule`
    /// and runs `body` on each range in parallel.
    public func parallelFor(_ count: Int, granule: Int = 1, _ body: (Range<Int>) -> Void) {
        parallelFor(count, granule: granule) { range, _ in body(range) }
    }

    /// As `parallelFor(_:granule:_:)`, also passing the index of the thread that runs the range
    /// (for per-thread scratch memory). The ranges depend only on `count`, `granule` and the thread
    /// count; which thread runs a range depends on timing, so `body` must compute each range's
    /// results alone, in an order fixed by the range (no reduction across ranges).
    public func parallelFor(_ count: Int, granule: Int = 1, _ body: (Range<Int>, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + granule - 1) / granule
        let tasks = min(chunks, threadCount == 1 ? 1 : ThreadPool.tasksPerThread * threadCount)
        if tasks == 1 { body(0..<count, 0); return }
        runTasks(tasks) { task, thread in
            let range = ThreadPool.staticRange(chunks: chunks, workers: tasks, worker: task)
            let lo = min(count, range.lowerBound * granule)
            let hi = min(count, range.upperBound * granule)
            if lo < hi { body(lo..<hi, thread) }
        }
    }

    /// As `parallelFor(_:granule:_:)`, but with one task per `granule`-sized range (finer claiming,
    /// for work whose ranges are costly, such as a decoding GEMM's column panels).
    public func parallelForClaiming(_ count: Int, granule: Int, _ body: (Range<Int>, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + granule - 1) / granule
        if min(threadCount, chunks) == 1 { body(0..<count, 0); return }
        var first = 0
        while first < chunks {
            // Regions hold at most Ticket.maxTasks tasks; a larger count runs as several regions.
            let tasks = min(chunks - first, Ticket.maxTasks), base = first
            runTasks(tasks) { task, thread in
                let chunk = base + task
                body((chunk * granule)..<min(count, (chunk + 1) * granule), thread)
            }
            first += tasks
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

/// A region's ticket in one word, so that one compare-and-swap checks the region and claims a task:
/// bits 0..<16 the next task, 16..<32 the task count, 32..<64 the generation.
enum Ticket {
    static let maxTasks = (1 << 16) - 1
    static func make(generation: UInt64, tasks: Int) -> UInt64 { (generation << 32) | (UInt64(tasks) << 16) }
    static func generation(_ t: UInt64) -> UInt64 { t >> 32 }
    static func next(_ t: UInt64) -> Int { Int(t & 0xFFFF) }
    static func tasks(_ t: UInt64) -> Int { Int((t >> 16) & 0xFFFF) }
}

/// What the workers share with the pool; kept apart so that workers never hold the
/// pool itself and it can be released while they sleep.
private final class SharedState: @unchecked Sendable {
    let ticket = Atomic<UInt64>(0)
    /// Tasks of the current region that have finished.
    let finished = Atomic<Int>(0)
    /// Workers asleep (or about to sleep) on `lock`.
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let lock = NSCondition()
    /// The current region's body; valid from a successful claim until that task's `finished` increment.
    var job: ((Int, Int) -> Void)?

    /// Claims and runs tasks of region `generation` until none is left (or the region is over).
    @inline(__always)
    func claimAll(generation: UInt64, thread: Int) {
        var t = ticket.load(ordering: .acquiring)
        while Ticket.generation(t) == generation && Ticket.next(t) < Ticket.tasks(t) {
            let (claimed, current) = ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
            if claimed {
                job!(Ticket.next(t), thread)
                finished.add(1, ordering: .releasing)
                t = ticket.load(ordering: .acquiring)
            } else {
                t = current
            }
        }
    }

    func workerLoop(_ worker: Int) {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var current = Ticket.generation(ticket.load(ordering: .acquiring))
            while current == seen && spins < ThreadPool.spinLimit {
                if stopping.load(ordering: .relaxed) { return }
                spins += 1
                current = Ticket.generation(ticket.load(ordering: .acquiring))
            }
            if current == seen {
                lock.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while Ticket.generation(ticket.load(ordering: .sequentiallyConsistent)) == seen
                        && !stopping.load(ordering: .relaxed) {
                    lock.wait()
                }
                sleepers.subtract(1, ordering: .relaxed)
                lock.unlock()
                if stopping.load(ordering: .relaxed) { return }
                current = Ticket.generation(ticket.load(ordering: .acquiring))
            }
            seen = current
            claimAll(generation: seen, thread: worker)
        }
    }
}
