// Byte-level BPE with GPT-2's split pattern, matching tiktoken's `CoreBPE`
// (r50k_base / "gpt2") id for id: text is cut into chunks by `GPT2PreTokenizer`,
// a chunk that is itself a token maps to it directly, and any other chunk is merged
// by `BytePairMerger`. Special tokens are plain text unless explicitly allowed,
// as with tiktoken's `encode_ordinary` / `encode(allowed_special=...)`.
import Foundation
import GPTConcurrency

/// A byte-level BPE tokenizer: a rank per token (id = rank) plus special tokens.
public final class BytePairTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked: every stored property is immutable after init.

    public let name: String
    /// The special tokens and their ids (`<|endoftext|>` = 50256 for GPT-2).
    public let specialTokens: [String: Int]
    public let vocabularySize: Int
    public var endOfTextID: Int? { specialTokens[Self.endOfText] }

    /// Token bytes by rank; key index == rank == id.
    let ranks: ByteSequenceTable
    private let byteRank: [Int32]
    private let specialBytes: [Int: [UInt8]]

    /// GPT-2's document separator.
    public static let endOfText = "<|endoftext|>"

    /// Every id (ordinary or special) must be below this: the model side stores ids and
    /// the vocabulary size as Int32, and ranks here are Int32 too.
    public static let idLimit = Int(Int32.max)

    /// Number of ordinary (non-special) tokens: ids `0..<ordinaryTokenCount`.
    public var ordinaryTokenCount: Int { ranks.count }

    /// A tokenizer whose token `i` has bytes `tokens[i]`. All 256 single bytes must be
    /// tokens, tokens must be distinct, and special ids must not collide with them.
    /// `source` names where the tokens came from in error messages.
    public init(name: String, tokens: [[UInt8]], specialTokens: [String: Int], source: String) throws {
        var table = ByteSequenceTable(minimumCapacity: tokens.count)
        for (id, bytes) in tokens.enumerated() {
            guard !bytes.isEmpty else {
                throw TokenizerError.malformedVocabulary(path: source, reason: "token \(id) is empty")
            }
            let index = table.insert(bytes)
            guard index == id else {
                throw TokenizerError.malformedVocabulary(
                    path: source, reason: "tokens \(index) and \(id) have the same bytes \(bytes)")
            }
        }
        var byteRank = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let rank = [UInt8(byte)].withUnsafeBufferPointer { table.find($0.baseAddress!, count: 1) }
            guard rank >= 0 else {
                throw TokenizerError.malformedVocabulary(
                    path: source, reason: "byte \(byte) has no token (a byte-level BPE needs all 256)")
            }
            byteRank[byte] = Int32(rank)
        }
        guard tokens.count < Self.idLimit else {
            throw TokenizerError.malformedVocabulary(
                path: source, reason: "\(tokens.count) tokens exceed the limit of \(Self.idLimit) ids")
        }
        var size = tokens.count
        for (text, id) in specialTokens {
            // Checked first: `id + 1` below must not overflow, and the model cannot hold larger ids.
            guard id >= 0, id < Self.idLimit else {
                throw TokenizerError.malformedVocabulary(
                    path: source, reason: "special token \(text) has id \(id), outside 0..<\(Self.idLimit) "
                        + "(ids are stored as Int32)")
            }
            guard id >= tokens.count else {
                throw TokenizerError.malformedVocabulary(
                    path: source, reason: "special token \(text) has id \(id), which an ordinary token already uses")
            }
            size = max(size, id + 1)
        }
        guard Set(specialTokens.values).count == specialTokens.count else {
            throw TokenizerError.malformedVocabulary(path: source, reason: "two special tokens share an id")
        }
        self.name = name
        self.ranks = table
        self.byteRank = byteRank
        self.specialTokens = specialTokens
        self.specialBytes = Dictionary(uniqueKeysWithValues: specialTokens.map { ($0.value, Array($0.key.utf8)) })
        self.vocabularySize = size
    }

    /// The bytes of token `id` (ordinary or special), or nil if `id` is not in the vocabulary.
    public func bytes(of id: Int) -> [UInt8]? {
        if id >= 0, id < ranks.count { return Array(ranks.key(id)) }
        return specialBytes[id]
    }

    // MARK: Encoding

    public func encodeOrdinary(utf8 bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
        var merger = BytePairMerger()
        var cache = ChunkCache()
        encodeOrdinary(bytes, into: &ids, merger: &merger, cache: &cache)
    }

    /// Encodes `text`; occurrences of the special tokens named in `allowedSpecial` become
    /// their ids, everything else (other special tokens included) is ordinary text.
    /// With `threads` > 1, long stretches of text are split at safe points and encoded in parallel.
    public func encode(_ text: String, allowedSpecial: Set<String>, threads: Int = 1) -> [Int] {
        var text = text
        return text.withUTF8 { encode(utf8: $0, allowedSpecial: allowedSpecial, threads: threads) }
    }

    /// `encode(_:allowedSpecial:threads:)` for UTF-8 bytes (invalid sequences are encoded byte by byte).
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>, allowedSpecial: Set<String>, threads: Int = 1) -> [Int] {
        var ids: [Int] = []
        var start = 0
        while let (range, id) = nextSpecial(in: bytes, from: start, allowed: allowedSpecial) {
            ids += encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[start..<range.lowerBound]), threads: threads)
            ids.append(id)
            start = range.upperBound
        }
        ids += encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[start...]), threads: threads)
        return ids
    }

    /// Encodes ordinary text on up to `threads` threads; the result equals the one-thread encoding.
    public func encodeOrdinary(_ bytes: UnsafeBufferPointer<UInt8>, threads: Int) -> [Int] {
        let segments = GPT2TextSplitter.segments(of: bytes, count: threads <= 1 ? 1 : threads * 4)
        if segments.count == 1 {
            var ids: [Int] = []
            ids.reserveCapacity(bytes.count / 4)
            encodeOrdinary(utf8: bytes, into: &ids)
            return ids
        }
        let workers = min(threads, segments.count)
        let results = ConcurrentSlots<[[Int]]>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var merger = BytePairMerger()
            var cache = ChunkCache()
            var pieces: [[Int]] = []
            for s in stride(from: worker, to: segments.count, by: workers) {
                var ids: [Int] = []
                ids.reserveCapacity(segments[s].count / 4)
                encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[segments[s]]), into: &ids,
                               merger: &merger, cache: &cache)
                pieces.append(ids)
            }
            results.set(worker, pieces)
        }
        var ids: [Int] = []
        for s in segments.indices { ids += results.value(s % workers)[s / workers] }
        return ids
    }

    @inline(__always)
    func encodeOrdinary(_ bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int],
                        merger: inout BytePairMerger, cache: inout ChunkCache) {
        guard let base = bytes.baseAddress else { return }
        ranks.withView { ranks in
            byteRank.withUnsafeBufferPointer { byteRank in
                GPT2PreTokenizer.forEachChunk(in: bytes) { chunk in
                    let start = base + chunk.lowerBound
                    let count = chunk.count
                    if count == 1 {
                        ids.append(Int(byteRank[Int(start.pointee)]))
                        return
                    }
                    let whole = ranks.find(start, count: count)
                    if whole >= 0 {
                        ids.append(whole)
                        return
                    }
                    if cache.lookUp(start, count: count, into: &ids) { return }
                    let first = ids.count
                    merger.merge(start, count: count, ranks: ranks, byteRank: byteRank, into: &ids)
                    cache.remember(start, count: count, ids: ids[first...])
                }
            }
        }
    }

    /// The earliest allowed special token at or after `start` (the longest one if several start there).
    private func nextSpecial(in bytes: UnsafeBufferPointer<UInt8>, from start: Int,
                             allowed: Set<String>) -> (Range<Int>, Int)? {
        var best: (Range<Int>, Int)?
        for text in allowed {
            guard let id = specialTokens[text] else { continue }
            let needle = Array(text.utf8)
            guard let found = Self.firstOccurrence(of: needle, in: bytes, from: start) else { continue }
            let range = found..<(found + needle.count)
            if let current = best {
                if range.lowerBound < current.0.lowerBound
                    || (range.lowerBound == current.0.lowerBound && range.count > current.0.count) {
                    best = (range, id)
                }
            } else {
                best = (range, id)
            }
        }
        return best
    }

    private static func firstOccurrence(of needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard !needle.isEmpty, bytes.count - start >= needle.count else { return nil }
        let first = needle[0]
        var i = start
        let last = bytes.count - needle.count
        while i <= last {
            if bytes[i] == first, needle.indices.allSatisfy({ bytes[i + $0] == needle[$0] }) { return i }
            i += 1
        }
        return nil
    }

    /// The parts BPE splits token `id`'s bytes into when only lower ranks exist:
    /// two parts for every multi-byte token of a well-formed vocabulary.
    func mergeParts(ofToken id: Int, merger: inout BytePairMerger) -> [Int] {
        var parts: [Int] = []
        let bytes = Array(ranks.key(id))
        bytes.withUnsafeBufferPointer { chunk in
            ranks.withView { ranks in
                byteRank.withUnsafeBufferPointer { byteRank in
                    merger.merge(chunk.baseAddress!, count: chunk.count, ranks: ranks, byteRank: byteRank,
                                 rankLimit: id, into: &parts)
                }
            }
        }
        return parts
    }

    // MARK: Decoding

    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        try ranks.storage.withUnsafeBufferPointer { storage in
            try ranks.offsets.withUnsafeBufferPointer { offsets in
                let ordinaryCount = offsets.count - 1
                // Size the output first so the copy loop is a plain memcpy per token.
                var total = 0
                for id in ids {
                    if id >= 0, id < ordinaryCount {
                        total += offsets[id + 1] - offsets[id]
                    } else if let special = specialBytes[id] {
                        total += special.count
                    } else {
                        throw TokenizerError.unknownTokenID(id: id, vocabularySize: vocabularySize)
                    }
                }
                return [UInt8](unsafeUninitializedCapacity: total) { output, initialized in
                    var position = 0
                    for id in ids {
                        if id < ordinaryCount {
                            let start = offsets[id], length = offsets[id + 1] - start
                            (output.baseAddress! + position).initialize(from: storage.baseAddress! + start, count: length)
                            position += length
                        } else {
                            let special = specialBytes[id]!   // checked in the sizing pass
                            _ = UnsafeMutableBufferPointer(rebasing: output[position...]).initialize(from: special)
                            position += special.count
                        }
                    }
                    initialized = position
                }
            }
        }
    }
}
