// Pre-training corpora from the Hugging Face hub, as llm.c shard directories that
// `gpt train --data DIR` reads:
//
//   - FineWeb 10B in GPT-2 tokens (modded-nanogpt's `cached_fineweb10B.py`): the dataset
//     repository kjj0/fineweb10B-gpt2 holds fineweb_val_000000.bin and
//     fineweb_train_000001.bin … fineweb_train_000103.bin, each an llm.c version-1 shard of
//     10⁸ tokens. The files go to the hub cache (HubSource: $HF_ENDPOINT, $HF_HOME /
//     $HF_HUB_CACHE, HF_HUB_OFFLINE=1) and are linked into the output directory; each
//     shard's header is checked against its size before it is linked.
//   - TinyStories (roneneldan/TinyStories, TinyStoriesV2-GPT4-train.txt and -valid.txt): the
//     text goes to the hub cache, then is tokenized into shards as llm.c's
//     dev/data/tinystories.py does: each story (text between `<|endoftext|>` markers, with
//     surrounding whitespace removed) becomes <|endoftext|> followed by its ids.
//
// A file already in the cache is not fetched again; an output name that already holds
// something else is never replaced.
import Foundation
import GPTIO
import GPTNetwork
import GPTTokenizer
#if canImport(Glibc)
import Glibc
#endif

public enum HubDatasets {
    // MARK: FineWeb 10B

    public static let fineWebRepository = "kjj0/fineweb10B-gpt2"
    /// The training shards the repository holds: fineweb_train_000001.bin … _000103.bin (10.3 B tokens).
    public static let fineWebTrainShards = 1...103

    /// The files of `shards` training shards: the validation shard, then training shards 1 … `shards`.
    public static func fineWebFiles(shards: Int) -> [String] {
        ["fineweb_val_000000.bin"] + (1...max(1, shards)).map { LLMCShard.fileName(prefix: "fineweb", split: "train", index: $0) }
    }

    /// Makes the validation shard and the first `shards` training shards present in the hub cache
    /// (downloading only those missing) and links them into `directory`. Returns the links.
    @discardableResult
    public static func fineWeb10B(shards: Int, into directory: URL, hub: HubSource) throws -> [URL] {
        guard fineWebTrainShards.contains(shards) else {
            throw DataError.unsupportedByFormat(
                format: "FineWeb 10B", reason: "--shards \(shards) is outside \(fineWebTrainShards.lowerBound)...\(fineWebTrainShards.upperBound)"
                    + " (the repository holds \(fineWebTrainShards.upperBound) training shards of 10⁸ tokens)")
        }
        let repository = try HubModel(dataset: fineWebRepository)
        try createDirectory(directory)
        return try fineWebFiles(shards: shards).map { file in
            let cached = try cachedFile(file, of: repository, hub: hub) { url in
                let header = try LLMCShard.open(url)
                guard header.version == 1 else {
                    throw DataError.malformedTokenFile(path: url.path, reason: "version \(header.version); FineWeb 10B's shards are version 1 (GPT-2 ids)")
                }
            }
            return try link(cached, as: directory.appendingPathComponent(file))
        }
    }

    // MARK: TinyStories

    public static let tinyStoriesRepository = "roneneldan/TinyStories"
    /// (split, file in the repository), validation first: it is small, so a problem shows early.
    public static let tinyStoriesFiles = [("val", "TinyStoriesV2-GPT4-valid.txt"), ("train", "TinyStoriesV2-GPT4-train.txt")]
    public static let tinyStoriesPrefix = "TinyStories"

    /// Makes TinyStories' text present in the hub cache and tokenizes each split into llm.c shards
    /// (TinyStories_val_000000.bin, TinyStories_train_000000.bin, …) in `directory`, with `tokenizer`'s
    /// file beside them. A split whose shards a previous run finished is kept as it is. Returns the
    /// token count of each split.
    @discardableResult
    public static func tinyStories(into directory: URL, tokenizer: any Tokenizer, hub: HubSource,
                                   shardTokens: Int = LLMCShard.defaultShardTokens,
                                   threads: Int = ProcessInfo.processInfo.activeProcessorCount, blockSize: Int = 4 << 20,
                                   log: (String) -> Void = { _ in }) throws -> [String: Int] {
        guard let endOfText = tokenizer.endOfTextID else {
            throw DataError.unsupportedByFormat(format: "TinyStories shards",
                                                reason: "tokenizer \(tokenizer.name) has no <|endoftext|> token to begin each story with")
        }
        guard TokenDType(vocabularySize: tokenizer.vocabularySize) == .uint16 else {
            throw DataError.unsupportedByFormat(
                format: "llm.c shards", reason: "their version-1 ids are uint16, and this tokenizer has \(tokenizer.vocabularySize) ids")
        }
        let repository = try HubModel(dataset: tinyStoriesRepository)
        try createDirectory(directory)
        try placeTokenizer(tokenizer, in: directory)
        var counts: [String: Int] = [:]
        for (split, file) in tinyStoriesFiles {
            let marker = directory.appendingPathComponent(".\(tinyStoriesPrefix)_\(split).complete")
            let existing = LLMCShard.shards(in: directory)
            let mine = (split == "val" ? existing.validation : existing.train)
                .filter { $0.lastPathComponent.hasPrefix(tinyStoriesPrefix + "_") }
            if !mine.isEmpty {
                guard FileManager.default.fileExists(atPath: marker.path) else {
                    throw DataError.unwritableOutput(
                        path: mine[0].path, reason: "it exists but was not written whole by gpt data tinystories; "
                            + "not replaced (remove the \(split) shards or choose another --out)")
                }
                counts[split] = try mine.reduce(0) { $0 + (try LLMCShard.open($1).file.count) }
                log("\(split): \(mine.count) shard(s) already in \(directory.path)\n")
                continue
            }
            let text = try cachedFile(file, of: repository, hub: hub) { _ in }
            let writer = LLMCShardWriter(directory: directory, prefix: tinyStoriesPrefix, split: split, shardTokens: shardTokens)
            do {
                let stories = try TinyStoriesText.encode(text, tokenizer: tokenizer, endOfText: endOfText, threads: threads,
                                                             blockSize: blockSize, into: writer) {
                    log(String(format: "\rtokenizing %@: %.0f%%", file, 100 * $0))
                }
                log(String(format: "\rtokenized %@: %d stories, %d tokens\n", file, stories, writer.count))
                try writer.close()
                try writer.commit()
            } catch {
                writer.discard()
                throw error
            }
            try AtomicFile.write(Data("\(writer.count)\n".utf8), to: marker)
            counts[split] = writer.count
        }
        return counts
    }

    // MARK: shared steps

    /// The path of `file` in the hub cache, downloaded if missing, after `check` accepts it. A file
    /// `check` refuses is removed from the cache (so the next run fetches it afresh) and refused,
    /// named with the reason.
    static func cachedFile(_ file: String, of repository: HubModel, hub: HubSource, check: (URL) throws -> Void) throws -> URL {
        let snapshot = try hub.snapshot(repository, required: [file])
        let url = snapshot.appendingPathComponent(file)
        do {
            try check(url)
        } catch {
            let blob = url.resolvingSymlinksInPath()
            try? FileManager.default.removeItem(at: url)
            if blob.path != url.path { try? FileManager.default.removeItem(at: blob) }
            throw DataError.malformedTokenFile(
                path: file, reason: "the file downloaded from \(repository) is not a valid llm.c shard (\(error)); removed from the cache")
        }
        return url
    }

    /// Puts a symlink to `cached` at `destination` (made beside it and renamed into place). A link
    /// there already to the same file, or a file with the same bytes, is kept; anything else is
    /// refused, never replaced.
    static func link(_ cached: URL, as destination: URL) throws -> URL {
        let target = cached.resolvingSymlinksInPath()
        var status = stat()
        if lstat(destination.path, &status) == 0 {
            if destination.resolvingSymlinksInPath().path == target.path || sameBytes(destination, target) { return destination }
            throw DataError.unwritableOutput(
                path: destination.path, reason: "it exists and differs from the downloaded \(cached.lastPathComponent); "
                    + "not replaced (move it away or choose another --out)")
        }
        let temporary = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).link")
        do { try FileManager.default.createSymbolicLink(atPath: temporary.path, withDestinationPath: cached.path) } catch {
            throw DataError.unwritableOutput(path: destination.path, reason: FileAccessError.words(error))
        }
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw DataError.unwritableOutput(path: destination.path, reason: reason)
        }
        return destination
    }

    /// Whether two files hold the same bytes (compared a megabyte at a time).
    static func sameBytes(_ a: URL, _ b: URL) -> Bool {
        guard let sizeA = try? FileManager.default.attributesOfItem(atPath: a.path)[.size] as? Int,
              let sizeB = try? FileManager.default.attributesOfItem(atPath: b.path)[.size] as? Int, sizeA == sizeB,
              let ha = FileHandle(forReadingAtPath: a.path), let hb = FileHandle(forReadingAtPath: b.path) else { return false }
        defer { try? ha.close(); try? hb.close() }
        do {
            while true {
                // read(upToCount:) gives nil (or empty data) at the end of the file.
                let x = try ha.read(upToCount: 1 << 20) ?? Data(), y = try hb.read(upToCount: 1 << 20) ?? Data()
                if x != y { return false }
                if x.isEmpty { return true }
            }
        } catch {
            return false
        }
    }

    /// Writes the tokenizer file beside the shards, or keeps one that is already the same tokenizer.
    static func placeTokenizer(_ tokenizer: any Tokenizer, in directory: URL) throws {
        let url = directory.appendingPathComponent(TokenizerFile.defaultFileName)
        if FileManager.default.fileExists(atPath: url.path) {
            let existing = try TokenizerFile.load(url)
            guard existing.name == tokenizer.name, existing.vocabularySize == tokenizer.vocabularySize else {
                throw DataError.unwritableOutput(
                    path: url.path, reason: "it holds tokenizer \(existing.name) (\(existing.vocabularySize) ids), not \(tokenizer.name); "
                        + "not replaced (choose another --out)")
            }
            return
        }
        try TokenizerFile.write(tokenizer, to: url)
    }

    static func createDirectory(_ directory: URL) throws {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw DataError.unwritableOutput(path: directory.path, reason: FileAccessError.words(error))
        }
    }
}
