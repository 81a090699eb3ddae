// One split of a corpus as a single token sequence: train.bin alone, a run of llm.c
// shards read back to back (memory-mapped: a corpus larger than memory costs only the
// pages a batch touches), or the ids of a text encoded in memory.
//
// Windows may span a shard boundary, as they span a document boundary inside one file:
// the shards are one sequence, so a corpus split into shards draws exactly the windows the
// same ids in one file would, and the sampler's whole state is its generator (no shard
// cursor). llm.c and nanoGPT draw within one shard at a time instead; with 10⁸-token
// shards the difference is one window in a million touching two documents of different
// shards, which is what a window inside a shard does at every document boundary anyway.
import Foundation

public final class TokenShards: @unchecked Sendable {
    // @unchecked: the files are read-only mappings and the array is immutable, for this object's lifetime.
    public let files: [TokenFile]
    /// Ids held in memory (a text encoded for this run), when there are no files.
    private let memory: [Int32]
    /// starts[i]: the index in the sequence of file i's first id; starts.last == count.
    private let starts: [Int]
    public let count: Int
    /// What error messages name: the file, or the first shard and how many follow.
    public let name: String

    public init(_ files: [TokenFile]) {
        self.files = files
        var starts = [0]
        for file in files { starts.append(starts.last! + file.count) }
        self.starts = starts
        memory = []
        count = starts.last!
        name = files.count == 1 ? files[0].url.path : "\(files.first?.url.path ?? "no shards") and \(max(0, files.count - 1)) more"
    }

    /// Ids already in memory (a text tokenized for this run, or a test's sequence).
    public init(tokens: [Int32], name: String = "the tokens in memory") {
        files = []
        memory = tokens
        starts = [0, tokens.count]
        count = tokens.count
        self.name = name
    }

    /// The number of ids of each file (one entry for ids in memory).
    public var pieceCounts: [Int] { zip(starts.dropFirst(), starts).map { $0 - $1 } }

    /// Copies ids `range` into `destination` as Int32, across shard boundaries.
    public func copy(_ range: Range<Int>, to destination: UnsafeMutablePointer<Int32>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside 0..<\(count)")
        guard !range.isEmpty else { return }
        if files.isEmpty {
            memory.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + range.lowerBound, count: range.count) }
            return
        }
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

    /// Calls `body` with ids `range` in chunks of at most `chunk`, in order, through one reused
    /// buffer; the pages of mapped files are released after each chunk, so reading a whole
    /// corpus larger than memory leaves none of it resident in this process.
    public func forEachChunk(_ range: Range<Int>, chunk: Int = 1 << 16, _ body: (UnsafeBufferPointer<Int32>) throws -> Void) rethrows {
        precondition(chunk > 0)
        let buffer = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        var at = range.lowerBound
        while at < range.upperBound {
            let end = min(range.upperBound, at + chunk)
            copy(at..<end, to: buffer)
            try body(UnsafeBufferPointer(start: buffer, count: end - at))
            release(at..<end)
            at = end
        }
    }

    /// Drops the resident pages of mapped files that hold ids `range` from this process's memory
    /// (they stay in the page cache; read again, they are mapped again).
    public func release(_ range: Range<Int>) {
        guard !files.isEmpty, !range.isEmpty else { return }
        for (i, file) in files.enumerated() {
            let lo = max(range.lowerBound, starts[i]), hi = min(range.upperBound, starts[i + 1])
            if lo < hi { file.release((lo - starts[i])..<(hi - starts[i])) }
        }
    }

    /// The bytes of the mapped files (0 for ids in memory).
    public var mappedBytes: Int { files.reduce(0) { $0 + $1.byteCount } }

    /// Drops every resident page of the mapped files from this process's memory.
    public func releaseAll() {
        for file in files where file.count > 0 { file.release(0..<file.count) }
    }

    /// Every id, in memory: for tests and small corpora only (training never calls it).
    public func allTokens() -> [Int32] {
        [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { copy(0..<count, to: buffer.baseAddress!) }
            initialized = count
        }
    }
}
