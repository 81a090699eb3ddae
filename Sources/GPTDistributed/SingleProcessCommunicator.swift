// One process alone: every collective is the identity.
import Foundation

public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allReduceMax(_ value: Int) throws -> Int { value }
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func progressReductions() throws {}
    public func waitForReductions() throws {}
    public func allGather(_ value: UInt64) throws -> [UInt64] { [value] }
    public func barrier() throws {}
    public func sharedSegments(count: Int) throws -> SharedSegments? { nil }
    public func abort(status: Int32) -> Never { exit(status) }
    public func finish() {}
}
