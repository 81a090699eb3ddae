// One split of a prepared corpus as a single token sequence: train.bin alone, or a run
// of llm.c shards read back to back. Windows may span a shard boundary, as they span a
// document boundary inside one file.
import Foundation

public final class TokenShards: @unchecked Sendable {
    // @unchecked: the files are read-only mappings that live as long as this object.
    public let files: [TokenFile]
    /// starts[i]: the index in the sequence of file i's first id; starts.last == count.
    private let starts: [Int]
    public var count: Int { starts.last! }
    /// What error messages name: the file, or the first shard and how many follow.
    public let name: String

    public init(_ files: [TokenFile]) {
        self.files = files
        var starts = [0]
        for file in files { starts.append(starts.last! + file.count) }
        self.starts = starts
        name = files.count == 1 ? files[0].url.path : "\(files.first?.url.path ?? "no shards") and \(max(0, files.count - 1)) more"
    }

    /// Copies ids `range` into `destination` as Int32, across shard boundaries.
    public func copy(_ range: Range<Int>, to destination: UnsafeMutablePointer<Int32>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside 0..<\(count)")
        var at = range.lowerBound, written = 0
        // The last file starting at or before `at`.
        var file = max(0, (starts.firstIndex { $0 > at } ?? starts.count) - 1)
        while at < range.upperBound {
            while starts[file + 1] <= at { file += 1 }
            let end = min(range.upperBound, starts[file + 1])
            files[file].copy((at - starts[file])..<(end - starts[file]), to: destination + written)
            written += end - at
            at = end
        }
    }

    /// Every id, as the trainer reads them today.
    public func allTokens() -> [Int32] {
        [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { copy(0..<count, to: buffer.baseAddress!) }
            initialized = count
        }
    }
}
