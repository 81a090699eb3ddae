// Memory that every rank on one machine can read and write: one segment per rank (an MPI
// shared-memory window under mpirun, plain memory when the ranks are threads in tests). Ranks
// that share a machine then combine gradients by reading each other's segments, each byte once,
// instead of sending them through MPI's buffers.

public final class SharedSegments {
    /// Floats in each segment.
    public let count: Int
    /// Rank r's segment, `count` floats; every rank may read every segment.
    public let segments: [UnsafeMutablePointer<Float>]
    private let fenceBody: () throws -> Void

    public init(count: Int, segments: [UnsafeMutablePointer<Float>], fence: @escaping () throws -> Void) {
        self.count = count; self.segments = segments; fenceBody = fence
    }

    /// Returns once every rank has called it; what any rank wrote before it, every rank reads after it.
    public func fence() throws { try fenceBody() }
}
