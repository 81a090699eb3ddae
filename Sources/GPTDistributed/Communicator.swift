// What data-parallel training needs from its ranks: who am I, how many are we, copy a
// buffer from one rank to all, sum a buffer over all ranks (blocking, or started now and
// finished later so it overlaps backward), gather one number from each, wait for all, and
// memory shared by the ranks of one machine.
// `SingleProcessCommunicator` is the default; `MPICommunicator` (built with `--traits MPI`)
// runs the ranks `mpirun` starts. No transport of our own: MPI moves the bytes.

/// The ranks of one data-parallel job.
public protocol Communicator: AnyObject {
    /// This process's index, 0..<size; rank 0 prints and writes.
    var rank: Int { get }
    var size: Int { get }
    /// Copies `root`'s bytes into every rank's `bytes` (same count on every rank).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Replaces `buffer` on every rank by its element-wise sum over the ranks; every rank gets the same bits.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// The largest of the ranks' values.
    func allReduceMax(_ value: Int) throws -> Int
    /// Starts `allReduceSum(buffer)` without waiting; `buffer` must stay untouched until `waitForReductions`.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Lets started reductions advance (MPI moves a non-blocking collective only inside its calls).
    func progressReductions() throws
    /// Returns when every started reduction has finished.
    func waitForReductions() throws
    /// Every rank's `value`, in rank order.
    func allGather(_ value: UInt64) throws -> [UInt64]
    func barrier() throws
    /// A segment of `count` floats per rank that all ranks can read and write, when all of them
    /// share one machine's memory; nil otherwise (ranks on several machines, or one process).
    /// Collective: every rank calls it with the same count. The memory lives until `finish`.
    func sharedSegments(count: Int) throws -> SharedSegments?
    /// Ends the whole job: after an error on one rank the others would wait for it forever.
    func abort(status: Int32) -> Never
    /// Leaves the job cleanly; call once, after the last collective.
    func finish()
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Replaces `buffer` by its mean over the ranks.
    public func allReduceAverage(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduceSum(buffer)
        guard size > 1 else { return }
        let scale = 1 / Float(size)
        for i in buffer.indices { buffer[i] *= scale }
    }

    /// Broadcasts `root`'s value of a trivial (bit-copyable) value.
    public func broadcast<T>(_ value: inout T, root: Int) throws {
        try withUnsafeMutableBytes(of: &value) { try broadcast($0, root: root) }
    }
}

public enum CommunicatorError: Error, CustomStringConvertible, Equatable {
    case call(String, code: Int32)
    case notBuiltWithMPI(size: Int)

    public var description: String {
        switch self {
        case let .call(name, code): return "\(name) failed (MPI error \(code))"
        case let .notBuiltWithMPI(size):
            return "started as one of \(size) MPI ranks, but this gpt was built without MPI; "
                + "build it with `swift build -c release --traits MPI` (needs libopenmpi-dev)"
        }
    }
}
