// One result slot per parallel worker, written under a lock: the smallest safe way
// to return values from `DispatchQueue.concurrentPerform`.
import Foundation

/// Fixed-size storage that worker `i` fills at index `i`.
public final class ConcurrentSlots<Value>: @unchecked Sendable {
    // @unchecked: `values` is only touched while holding `lock`.
    private let lock = NSLock()
    private var values: [Value?]

    public init(count: Int) { values = Array(repeating: nil, count: count) }

    public func set(_ index: Int, _ value: Value) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }

    /// The value stored at `index`; every worker must have stored one before this is read.
    public func value(_ index: Int) -> Value {
        lock.lock()
        defer { lock.unlock() }
        guard let value = values[index] else { fatalError("slot \(index) was never filled") }
        return value
    }
}
