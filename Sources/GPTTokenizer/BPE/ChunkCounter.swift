// The first half of BPE training: how often each pre-tokenizer chunk occurs. The
// corpus streams through in pieces and only distinct chunks are kept, so memory
// follows the vocabulary of the text, not its length (as the word counts of
// Hugging Face `tokenizers`' BpeTrainer).
import Foundation
import GPTConcurrency

/// Counts of the GPT-2 pre-tokenizer chunks of the text added so far.
public struct ChunkCounter {
    var chunks = ByteSequenceTable(minimumCapacity: 1 << 14)
    var counts: [Int] = []

    /// Bytes of text added so far.
    public private(set) var byteCount = 0

    public init() {}

    /// Number of distinct chunks.
    public var distinctChunks: Int { counts.count }

    /// Counts the chunks of `piece`. Pieces must be cut where the split pattern
    /// would cut anyway (see `GPT2TextSplitter`), or the counts near cuts change.
    public mutating func add(_ piece: UnsafeBufferPointer<UInt8>) {
        guard let base = piece.baseAddress else { return }
        byteCount += piece.count
        GPT2PreTokenizer.forEachChunk(in: piece) { range in
            add(UnsafeBufferPointer(start: base + range.lowerBound, count: range.count), times: 1)
        }
    }

    /// Counts the chunks of a whole text on up to `threads` threads.
    public static func counting(_ text: UnsafeBufferPointer<UInt8>, threads: Int) -> ChunkCounter {
        let segments = GPT2TextSplitter.segments(of: text, count: max(1, threads))
        let results = ConcurrentSlots<ChunkCounter>(count: segments.count)
        DispatchQueue.concurrentPerform(iterations: segments.count) { index in
            var counter = ChunkCounter()
            counter.add(UnsafeBufferPointer(rebasing: text[segments[index]]))
            results.set(index, counter)
        }
        var total = results.value(0)
        for index in 1..<segments.count { total.merge(results.value(index)) }
        return total
    }

    /// Adds another counter's counts to these.
    public mutating func merge(_ other: ChunkCounter) {
        byteCount += other.byteCount
        other.chunks.storage.withUnsafeBufferPointer { storage in
            for index in 0..<other.counts.count {
                let start = other.chunks.offsets[index]
                let count = other.chunks.offsets[index + 1] - start
                add(UnsafeBufferPointer(start: storage.baseAddress! + start, count: count), times: other.counts[index])
            }
        }
    }

    @inline(__always)
    private mutating func add(_ chunk: UnsafeBufferPointer<UInt8>, times: Int) {
        let index = chunks.insert(chunk)
        if index == counts.count { counts.append(times) } else { counts[index] += times }
    }
}
