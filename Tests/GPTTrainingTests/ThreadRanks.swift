// N data-parallel ranks as threads of one process, for tests of the trainer without MPI:
// every collective is a rendezvous of all ranks, and sums are taken in rank order
// ((r0 + r1) + r2 …), the order that makes N ranks match one process bit for bit.
import Foundation
import GPTDistributed

final class ThreadRankGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    fileprivate var slots: [UnsafeMutableRawPointer?]
    /// Segments the ranks allocated for `sharedSegments`, freed with the group.
    fileprivate var segments: [UnsafeMutablePointer<Float>] = []

    init(size: Int) { self.size = size; slots = Array(repeating: nil, count: size) }

    deinit { for segment in segments { segment.deallocate() } }

    func barrier() {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0; generation += 1; condition.broadcast()
        } else {
            while mine == generation { condition.wait() }
        }
    }

    /// Each rank publishes `pointer`; once all have, `body` reads every rank's; once all have read, it returns.
    fileprivate func rendezvous(rank: Int, _ pointer: UnsafeMutableRawPointer?, _ body: ([UnsafeMutableRawPointer?]) -> Void) {
        slots[rank] = pointer
        barrier()
        body(slots)
        barrier()
    }

    /// Runs `body(rank)` on `size` threads and returns each rank's result (rethrowing the first error).
    func run<T>(_ body: @escaping (ThreadRank) throws -> T) throws -> [T] {
        let results = RankResults<T>(size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread { [self] in
                let r = Result { try body(ThreadRank(group: self, rank: rank)) }
                results.lock.lock(); results.values[rank] = r; results.lock.unlock()
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return try results.values.map { try $0!.get() }
    }
}

/// Each rank's result, written by the rank's thread under the lock.
final class RankResults<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [Result<T, Error>?]
    init(_ count: Int) { values = Array(repeating: nil, count: count) }
}

final class ThreadRank: Communicator {
    let group: ThreadRankGroup
    let rank: Int
    var size: Int { group.size }
    init(group: ThreadRankGroup, rank: Int) { self.group = group; self.rank = rank }

    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        group.rendezvous(rank: rank, bytes.baseAddress) { all in
            if rank != root, bytes.count > 0 { bytes.baseAddress!.copyMemory(from: all[root]!, byteCount: bytes.count) }
        }
    }

    private func sum<T: FloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>) {
        var total = [T](repeating: 0, count: buffer.count)
        group.rendezvous(rank: rank, UnsafeMutableRawPointer(buffer.baseAddress)) { all in
            let ranks = all.map { $0!.assumingMemoryBound(to: T.self) }
            for i in 0..<buffer.count {
                var s = ranks[0][i]
                for r in 1..<ranks.count { s += ranks[r][i] }
                total[i] = s
            }
        }
        for i in 0..<buffer.count { buffer[i] = total[i] }
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { sum(buffer) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { sum(buffer) }
    func allReduceMax(_ value: Int) throws -> Int { try allGather(UInt64(value)).map { Int($0) }.max()! }
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { sum(buffer) }
    func progressReductions() throws {}
    func waitForReductions() throws {}

    func allGather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var out: [UInt64] = []
        withUnsafeMutablePointer(to: &mine) { pointer in
            group.rendezvous(rank: rank, UnsafeMutableRawPointer(pointer)) { all in
                out = all.map { $0!.load(as: UInt64.self) }
            }
        }
        return out
    }

    func barrier() throws { group.barrier() }

    /// Threads share all memory: each rank's segment is its own allocation, published to the others.
    func sharedSegments(count: Int) throws -> SharedSegments? {
        let mine = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        mine.initialize(repeating: .nan, count: max(1, count))  // nothing may read it before writing
        var all: [UnsafeMutablePointer<Float>] = []
        group.rendezvous(rank: rank, UnsafeMutableRawPointer(mine)) { pointers in
            all = pointers.map { $0!.assumingMemoryBound(to: Float.self) }
        }
        group.barrier()
        if rank == 0 { group.segments += all }
        return SharedSegments(count: count, segments: all) { [group] in group.barrier() }
    }

    func abort(status: Int32) -> Never { fatalError("rank \(rank) aborted with status \(status)") }
    func finish() {}
}
