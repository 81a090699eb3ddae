// TinyStories' V2 text files into token ids, as llm.c's dev/data/tinystories.py tokenizes
// its stories: the file is a run of stories separated by `<|endoftext|>`; each story, with
// the whitespace around it removed (ASCII whitespace: Python's str.strip also removes the
// rarer Unicode spaces), becomes the end-of-text id followed by its ordinary encoding (the
// text never holds a special token). Empty stories are skipped.
//
// The file (2.2 GB for the training split) is read in blocks cut after the last separator
// they hold; each block's stories are encoded in parallel and appended in order, so memory
// is a few blocks, not the file.
import Foundation
import GPTConcurrency
import GPTTokenizer
#if canImport(Glibc)
import Glibc
#endif

enum TinyStoriesText {
    static let separator = Array("<|endoftext|>".utf8)

    /// Encodes every story of `url` into `sink` and returns the number of stories.
    /// `progress` gets the fraction of the file read.
    static func encode(_ url: URL, tokenizer: any Tokenizer, endOfText: Int, threads: Int, blockSize: Int = 4 << 20,
                       into sink: any TokenSink, progress: (Double) -> Void) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.unreadableInput(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let total = max(1, (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 1)
        var carry: [UInt8] = [], read = 0, stories = 0
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: blockSize) ?? Data() } catch {
                throw DataError.unreadableInput(path: url.path, reason: "\(error)")
            }
            read += chunk.count
            carry += chunk
            let atEnd = chunk.isEmpty
            // Everything up to the last separator is whole stories; the rest waits for the next block.
            let cut = atEnd ? carry.count : (lastSeparator(in: carry).map { $0 + separator.count } ?? 0)
            if cut > 0 {
                let pieces = split(carry[..<cut])
                stories += pieces.count
                for ids in try encode(pieces, of: carry, tokenizer: tokenizer, endOfText: endOfText, threads: threads) {
                    try sink.append(ids)
                }
                carry.removeFirst(cut)
            }
            progress(Double(read) / Double(total))
            if atEnd { return stories }
        }
    }

    /// The ranges of the non-empty stories in `bytes` (split on the separator, whitespace trimmed).
    static func split(_ bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = bytes.startIndex
        func add(_ range: Range<Int>) {
            var lo = range.lowerBound, hi = range.upperBound
            while lo < hi && isSpace(bytes[lo]) { lo += 1 }
            while hi > lo && isSpace(bytes[hi - 1]) { hi -= 1 }
            if lo < hi { ranges.append(lo..<hi) }
        }
        while let at = firstSeparator(in: bytes, from: start) {
            add(start..<at)
            start = at + separator.count
        }
        add(start..<bytes.endIndex)
        return ranges
    }

    /// Each story's ids (end-of-text first), in order, encoded on up to `threads` threads.
    static func encode(_ stories: [Range<Int>], of bytes: [UInt8], tokenizer: any Tokenizer, endOfText: Int,
                       threads: Int) throws -> [[Int]] {
        let groups = max(1, min(threads, stories.count))
        let results = ConcurrentSlots<Result<[Int], Error>>(count: groups)
        bytes.withUnsafeBufferPointer { buffer in
            DispatchQueue.concurrentPerform(iterations: groups) { group in
                let lo = stories.count * group / groups, hi = stories.count * (group + 1) / groups
                results.set(group, Result {
                    var ids: [Int] = []
                    for story in stories[lo..<hi] {
                        ids.append(endOfText)
                        try tokenizer.encodeOrdinary(utf8: UnsafeBufferPointer(rebasing: buffer[story]), into: &ids)
                    }
                    return ids
                })
            }
        }
        return try (0..<groups).map { try results.value($0).get() }
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    static func firstSeparator(in bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        let first = separator[0], last = bytes.endIndex - separator.count
        var at = start
        while at <= last {
            if bytes[at] == first && bytes[at..<(at + separator.count)].elementsEqual(separator) { return at }
            at += 1
        }
        return nil
    }

    static func lastSeparator(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= separator.count else { return nil }
        var at = bytes.count - separator.count
        while at >= 0 {
            if bytes[at] == separator[0] && bytes[at..<(at + separator.count)].elementsEqual(separator) { return at }
            at -= 1
        }
        return nil
    }
}
