// The streaming first half of `gpt tokenizer train`: read the corpus block by
// block and count GPT-2 chunks on all threads, keeping only the distinct chunks.
import Foundation
import GPTTokenizer

public enum CorpusChunkCounting {
    /// One worker's counter; each worker touches only its own box.
    private final class CounterBox: @unchecked Sendable {
        var counter = ChunkCounter()
    }

    /// Chunk counts of every document in `inputs`, on `threads` threads. `progress`
    /// receives (file bytes read, total file bytes) after each batch.
    public static func count(inputs: [CorpusInput], threads: Int, blockSize: Int = 1 << 20,
                             progress: ((PrepareProgress) -> Void)? = nil) throws -> ChunkCounter {
        let reader = CorpusReader(inputs: inputs, blockSize: blockSize)
        let totalBytes = reader.totalFileBytes()
        let workers = max(1, threads)
        let boxes = (0..<workers).map { _ in CounterBox() }
        let start = Date()
        var batch: [TextSegment] = []
        var batchBytes = 0
        func flush() {
            let segments = batch
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for index in stride(from: worker, to: segments.count, by: workers) {
                    segments[index].bytes.withUnsafeBufferPointer { boxes[worker].counter.add($0) }
                }
            }
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            progress?(PrepareProgress(phase: "count", bytesDone: reader.fileBytesRead, totalBytes: totalBytes,
                                      elapsedSeconds: Date().timeIntervalSince(start)))
        }
        try reader.read(trainContentBytes: nil) { segment in
            batch.append(segment)
            batchBytes += segment.bytes.count
            if batchBytes >= 2 * workers * blockSize { flush() }
        }
        flush()
        var total = boxes[0].counter
        for box in boxes.dropFirst() { total.merge(box.counter) }
        return total
    }
}
