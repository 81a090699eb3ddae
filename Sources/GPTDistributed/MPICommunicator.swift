// The ranks `mpirun` started, over Open MPI (built with `--traits MPI`). MPI's default error
// handler ends the job on a failed call, and mpirun ends it when a rank dies, naming the rank.
#if MPI
import CMPI
import Foundation

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let world = cmpi_comm_world()
    /// Reductions started and not yet finished.
    private var pending: [MPI_Request?] = []
    /// Shared-memory windows and their node communicators, freed by `finish`.
    private var windows: [(window: MPI_Win?, node: MPI_Comm?)] = []
    /// MPI counts are Int32: larger buffers go in pieces of this many elements.
    private static let maximumCount = 1 << 30

    /// Joins the job (MPI_Init); only the calling thread makes MPI calls.
    public init() throws {
        var provided: Int32 = 0
        try Self.check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(world, &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
    }

    static func check(_ code: Int32, _ name: String) throws {
        guard code == cmpi_success() else { throw CommunicatorError.call(name, code: code) }
    }

    /// Calls `body` on consecutive pieces of at most `maximumCount` elements.
    private static func pieces(_ count: Int, _ body: (Int, Int32) throws -> Void) rethrows {
        var start = 0
        while start < count {
            let n = min(maximumCount, count - start)
            try body(start, Int32(n))
            start += n
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = bytes.baseAddress else { return }
        try Self.pieces(bytes.count) { start, n in
            try Self.check(MPI_Bcast(base + start, n, cmpi_byte(), Int32(root), world), "MPI_Bcast")
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try Self.pieces(buffer.count) { start, n in
            try Self.check(MPI_Allreduce(cmpi_in_place(), base + start, n, cmpi_float(), cmpi_sum(), world), "MPI_Allreduce")
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = buffer.baseAddress else { return }
        try Self.pieces(buffer.count) { start, n in
            try Self.check(MPI_Allreduce(cmpi_in_place(), base + start, n, cmpi_double(), cmpi_sum(), world), "MPI_Allreduce")
        }
    }

    public func allReduceMax(_ value: Int) throws -> Int {
        var v = Int64(value)
        try Self.check(MPI_Allreduce(cmpi_in_place(), &v, 1, cmpi_int64(),
                                     cmpi_max(), world), "MPI_Allreduce")
        return Int(v)
    }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try Self.pieces(buffer.count) { start, n in
            var request: MPI_Request? = cmpi_request_null()
            try Self.check(MPI_Iallreduce(cmpi_in_place(), base + start, n, cmpi_float(), cmpi_sum(), world, &request),
                           "MPI_Iallreduce")
            pending.append(request)
        }
    }

    public func progressReductions() throws {
        guard !pending.isEmpty else { return }
        var done: Int32 = 0
        try Self.check(MPI_Testall(Int32(pending.count), &pending, &done, cmpi_statuses_ignore()), "MPI_Testall")
        if done != 0 { pending.removeAll(keepingCapacity: true) }
    }

    public func waitForReductions() throws {
        guard !pending.isEmpty else { return }
        try Self.check(MPI_Waitall(Int32(pending.count), &pending, cmpi_statuses_ignore()), "MPI_Waitall")
        pending.removeAll(keepingCapacity: true)
    }

    public func allGather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try Self.check(MPI_Allgather(&mine, 1, cmpi_uint64(), &all, 1, cmpi_uint64(), world), "MPI_Allgather")
        return all
    }

    public func barrier() throws { try Self.check(MPI_Barrier(world), "MPI_Barrier") }

    public func sharedSegments(count: Int) throws -> SharedSegments? {
        // The ranks that can share memory with this one, ordered as in the world.
        var node: MPI_Comm? = nil
        try Self.check(MPI_Comm_split_type(world, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &node),
                       "MPI_Comm_split_type")
        var nodeSize: Int32 = 0
        try Self.check(MPI_Comm_size(node, &nodeSize), "MPI_Comm_size")
        guard Int(nodeSize) == size else {
            MPI_Comm_free(&node)
            return nil
        }
        // Whole pages per rank, so that every segment of the contiguous window starts page-aligned.
        let bytes = (max(1, count) * MemoryLayout<Float>.stride + 4095) / 4096 * 4096
        // Open MPI backs the window with a file in /dev/shm (osc_sm_backing_directory); a container's
        // is often small, and a failed allocation would end the job. Too little room anywhere: all
        // ranks fall back to the all-reduce.
        var room = statvfs()
        let needed = bytes * size + (64 << 20)  // and room for MPI's own buffers
        let fits = statvfs("/dev/shm", &room) == 0 && Int(room.f_bavail) * Int(room.f_frsize) >= needed
        guard try allReduceMax(fits ? 0 : 1) == 0 else {
            MPI_Comm_free(&node)
            if rank == 0 {
                FileHandle.standardError.write(Data(("gpt: /dev/shm has less than the \(needed >> 20) MiB free that sharing "
                    + "the optimizer step needs; the ranks all-reduce their gradients instead\n").utf8))
            }
            return nil
        }
        var base: UnsafeMutableRawPointer? = nil
        var window: MPI_Win? = nil
        try Self.check(MPI_Win_allocate_shared(MPI_Aint(bytes), 4, cmpi_info_null(), node, &base, &window),
                       "MPI_Win_allocate_shared")
        windows.append((window, node))
        // One passive epoch for the window's life; fences order the ranks' loads and stores.
        try Self.check(MPI_Win_lock_all(cmpi_mode_nocheck(), window), "MPI_Win_lock_all")
        var segments: [UnsafeMutablePointer<Float>] = []
        for r in 0..<size {
            var segmentBytes: MPI_Aint = 0, unit: Int32 = 0
            var segment: UnsafeMutableRawPointer? = nil
            try Self.check(MPI_Win_shared_query(window, Int32(r), &segmentBytes, &unit, &segment), "MPI_Win_shared_query")
            guard let segment, Int(segmentBytes) >= count * MemoryLayout<Float>.stride else {
                throw CommunicatorError.call("MPI_Win_shared_query (rank \(r)'s segment is missing or short)", code: -1)
            }
            segments.append(segment.bindMemory(to: Float.self, capacity: max(1, count)))
        }
        return SharedSegments(count: count, segments: segments) {
            try Self.check(MPI_Win_sync(window), "MPI_Win_sync")
            try Self.check(MPI_Barrier(node), "MPI_Barrier")
            try Self.check(MPI_Win_sync(window), "MPI_Win_sync")
        }
    }

    public func abort(status: Int32) -> Never {
        MPI_Abort(world, status)
        exit(status)
    }

    public func finish() {
        for var (window, node) in windows {
            MPI_Win_unlock_all(window)
            MPI_Win_free(&window)
            MPI_Comm_free(&node)
        }
        windows.removeAll()
        MPI_Finalize()
    }
}
#endif
