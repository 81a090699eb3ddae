// llm.c's token shard format, which its FineWeb and TinyStories scripts and
// modded-nanogpt's speedrun data use: a header of 256 little-endian int32 —
// [0] the magic 20240520, [1] the version (1: uint16 GPT-2 ids; 2: uint32 LLaMA 3 ids),
// [2] the token count — then the ids. A directory of such files is a corpus; a name
// containing `_val_` (or ending `_val.bin`) is validation, `_train_` (or `_train.bin`)
// training, in name order.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum LLMCShard {
    public static let magic: Int32 = 20240520
    public static let headerInts = 256
    public static let headerBytes = headerInts * 4
    /// llm.c's FineWeb script writes 10⁸ tokens per shard.
    public static let defaultShardTokens = 100_000_000

    /// The dtype a version's ids have.
    public static func dtype(version: Int32) -> TokenDType? {
        switch version {
        case 1: return .uint16
        case 2: return .uint32
        default: return nil
        }
    }

    /// Opens a shard after checking its header against its size. Returns the version too.
    public static func open(_ url: URL) throws -> (file: TokenFile, version: Int32) {
        let header = try readHeader(url)
        let file = try TokenFile(url: url, dtype: header.dtype, headerBytes: headerBytes)
        guard file.count == header.count else {
            throw DataError.malformedTokenFile(
                path: url.path,
                reason: "the header says \(header.count) tokens but the file holds \(file.count) \(header.dtype.rawValue) ids after it")
        }
        return (file, header.version)
    }

    static func readHeader(_ url: URL) throws -> (version: Int32, dtype: TokenDType, count: Int) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.unreadableInput(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let bytes: Data
        do { bytes = try handle.read(upToCount: headerBytes) ?? Data() } catch {
            throw DataError.unreadableInput(path: url.path, reason: "\(error)")
        }
        guard bytes.count == headerBytes else {
            throw DataError.malformedTokenFile(
                path: url.path, reason: "\(bytes.count) bytes is shorter than an llm.c shard's \(headerBytes)-byte header")
        }
        let ints = bytes.withUnsafeBytes { raw in (0..<3).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
        guard ints[0] == magic else {
            throw DataError.malformedTokenFile(path: url.path, reason: "bad magic \(ints[0]): an llm.c shard starts with \(magic)")
        }
        guard let dtype = dtype(version: ints[1]) else {
            throw DataError.malformedTokenFile(
                path: url.path, reason: "unsupported version \(ints[1]) (1: uint16 GPT-2 ids, 2: uint32 LLaMA 3 ids)")
        }
        guard ints[2] >= 0 else {
            throw DataError.malformedTokenFile(path: url.path, reason: "negative token count \(ints[2]) in the header")
        }
        return (ints[1], dtype, Int(ints[2]))
    }

    /// The shards of a directory by llm.c's naming: (training, validation), each in name order.
    public static func shards(in directory: URL) -> (train: [URL], validation: [URL]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let bins = names.filter { $0.hasSuffix(".bin") && !$0.hasPrefix(".") }.sorted()
        func named(_ split: String) -> [URL] {
            bins.filter { $0.contains("_\(split)_") || $0.hasSuffix("_\(split).bin") }.map { directory.appendingPathComponent($0) }
        }
        return (named("train"), named("val"))
    }

    /// The file name of shard `index` of `split` ("train" or "val"), as llm.c's scripts name them.
    public static func fileName(prefix: String, split: String, index: Int) -> String {
        "\(prefix)_\(split)_\(String(format: "%06d", index)).bin"
    }
}

/// Writes one split as llm.c shards of at most `shardTokens` ids each. Every shard is staged
/// beside its target and renamed into place by `commit`, so an interrupted run leaves none.
final class LLMCShardWriter: StagedTokenSink {
    let directory: URL
    let prefix: String
    let split: String
    let shardTokens: Int
    private(set) var count = 0
    private var staged: [(staging: URL, target: URL)] = []
    private var handle: FileHandle?
    private var inShard = 0

    init(directory: URL, prefix: String, split: String, shardTokens: Int) {
        self.directory = directory; self.prefix = prefix; self.split = split; self.shardTokens = shardTokens
    }

    /// The shards this writer has (or will have, after `commit`) put in place.
    var targets: [URL] { staged.map(\.target) }

    func append(_ ids: [Int]) throws {
        var rest = ids[...]
        while !rest.isEmpty {
            if handle == nil || inShard == shardTokens { try startShard() }
            let take = rest.prefix(shardTokens - inShard)
            let data = take.map { UInt16(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { Data($0) }
            try write(data)
            inShard += take.count
            count += take.count
            rest = rest.dropFirst(take.count)
        }
    }

    private func startShard() throws {
        try finishShard()
        let target = directory.appendingPathComponent(LLMCShard.fileName(prefix: prefix, split: split, index: staged.count))
        let staging = directory.appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: staging.path, contents: nil),
              let opened = FileHandle(forWritingAtPath: staging.path) else {
            throw DataError.unwritableOutput(path: target.path, reason: "cannot create the file")
        }
        staged.append((staging, target))
        handle = opened
        inShard = 0
        try write(Self.header(count: 0))  // the count is patched in when the shard is full
    }

    private func finishShard() throws {
        guard let handle else { return }
        do {
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: Self.header(count: inShard))
            try handle.synchronize()
            try handle.close()
        } catch {
            throw DataError.unwritableOutput(path: staged.last!.target.path, reason: "\(error)")
        }
        self.handle = nil
    }

    private func write(_ data: Data) throws {
        do { try handle!.write(contentsOf: data) } catch {
            throw DataError.unwritableOutput(path: staged.last!.target.path, reason: "\(error)")
        }
    }

    static func header(count: Int) -> Data {
        var ints = [Int32](repeating: 0, count: LLMCShard.headerInts)
        ints[0] = LLMCShard.magic; ints[1] = 1; ints[2] = Int32(count)
        return ints.map(\.littleEndian).withUnsafeBytes { Data($0) }
    }

    func close() throws { try finishShard() }

    func commit() throws {
        for (staging, target) in staged where rename(staging.path, target.path) != 0 {
            throw DataError.unwritableOutput(path: target.path, reason: String(cString: strerror(errno)))
        }
    }

    func discard() {
        try? handle?.close()
        handle = nil
        for (staging, _) in staged { unlink(staging.path) }
    }
}
