// The training state of `BPETrainer`: every distinct chunk as a sequence of token
// ids with its frequency, the count of every adjacent pair, and which chunks hold
// each pair. Merging a pair rewrites only the chunks that hold it.
import Foundation

struct WordStore {
    private var symbols: [Int32] = []     // all words back to back
    private var start: [Int] = []         // word w occupies symbols[start[w] ..< start[w] + length[w]]
    private var length: [Int] = []
    private var frequency: [Int] = []
    private var visited: [Int] = []       // last merge that rewrote the word (an index may list it twice)
    private var mergeNumber = 0
    private(set) var pairCounts: [UInt64: Int] = [:]
    private var wordsWithPair: [UInt64: [Int32]] = [:]

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    init(counts: ChunkCounter, idOfByte: [Int32]) {
        counts.chunks.storage.withUnsafeBufferPointer { bytes in
            for index in 0..<counts.counts.count {
                let lower = counts.chunks.offsets[index], upper = counts.chunks.offsets[index + 1]
                guard upper - lower > 1 else { continue }   // a single byte has no pair to merge
                let word = start.count
                start.append(symbols.count)
                length.append(upper - lower)
                frequency.append(counts.counts[index])
                visited.append(0)
                for i in lower..<upper { symbols.append(idOfByte[Int(bytes[i])]) }
                for i in (lower + 1)..<upper {
                    let pair = Self.key(idOfByte[Int(bytes[i - 1])], idOfByte[Int(bytes[i])])
                    pairCounts[pair, default: 0] += counts.counts[index]
                    wordsWithPair[pair, default: []].append(Int32(word))
                }
            }
        }
    }

    /// Replaces every occurrence of `pair` (left to right, not overlapping) by `id`,
    /// updating the pair counts; returns the pairs that contain `id` with their new counts.
    mutating func apply(pair: UInt64, as id: Int32) -> [(UInt64, Int)] {
        guard let words = wordsWithPair.removeValue(forKey: pair) else { return [] }
        mergeNumber += 1
        let a = Int32(truncatingIfNeeded: pair >> 32), b = Int32(truncatingIfNeeded: pair & 0xFFFF_FFFF)
        var created = Set<UInt64>()
        for word32 in words {
            let word = Int(word32)
            guard visited[word] != mergeNumber else { continue }
            visited[word] = mergeNumber
            let times = frequency[word]
            let first = start[word], end = first + length[word]
            var read = first, write = first
            while read < end {
                if read + 1 < end, symbols[read] == a, symbols[read + 1] == b {
                    change(pair, by: -times)
                    if write > first {
                        let before = symbols[write - 1]
                        change(Self.key(before, a), by: -times)
                        created.insert(record(Self.key(before, id), by: times, word: word32))
                    }
                    if read + 2 < end {
                        let after = symbols[read + 2]
                        change(Self.key(b, after), by: -times)
                        created.insert(record(Self.key(id, after), by: times, word: word32))
                    }
                    symbols[write] = id
                    read += 2
                } else {
                    symbols[write] = symbols[read]
                    read += 1
                }
                write += 1
            }
            length[word] = write - first
        }
        return created.compactMap { pair in pairCounts[pair].map { (pair, $0) } }
    }

    @inline(__always)
    private mutating func change(_ pair: UInt64, by delta: Int) {
        let updated = pairCounts[pair, default: 0] + delta
        if updated > 0 { pairCounts[pair] = updated } else { pairCounts[pair] = nil }
    }

    @inline(__always)
    private mutating func record(_ pair: UInt64, by delta: Int, word: Int32) -> UInt64 {
        change(pair, by: delta)
        wordsWithPair[pair, default: []].append(word)
        return pair
    }
}
