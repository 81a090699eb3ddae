// `gpt bench tokenize`: byte-level BPE encode MB/s on one thread and on all threads,
// decode MB/s, and BPE training time (chunk counting + merges), for comparison with
// tiktoken and Hugging Face `tokenizers` (Benchmarks/tokenize_compare.py runs both).
import ArgumentParser
import Foundation
import GPTTokenizer

struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Measure BPE encoding, decoding and training speed on a text file.",
        discussion: """
        Each figure is the median of --repeats runs after a warm-up. Training counts the file's chunks \
        on --threads threads and learns --train-vocab-size tokens.
        Example:
          gpt bench tokenize --tokenizer gpt2 --json \\
              --input ../shared/data/gutenberg-selections.txt
        """)

    @Option(help: "gpt2 or a path to a BPE tokenizer (.tiktoken, vocab.json, tokenizer file).") var tokenizer = "gpt2"
    @Option(help: "Text file to tokenize.") var input: String
    @Option(help: "Worker threads for the all-threads figures, one per core unless set.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed runs per figure (the median is reported).") var repeats = 5
    @Option(help: "Vocabulary size for the training benchmark.") var trainVocabSize = 4_096
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        guard let bpe = try TokenizerLoader.load(tokenizer) as? BytePairTokenizer else {
            throw CommandError("--tokenizer must be a byte-level BPE (gpt2 or a BPE file), not a character tokenizer")
        }
        guard let data = FileManager.default.contents(atPath: input), !data.isEmpty else {
            throw CommandError("--input \(input) is missing, unreadable or empty")
        }
        let bytes = [UInt8](data)
        let megabytes = Double(bytes.count) / 1e6
        var ids: [Int] = []
        var vocabularySize = 0
        let (encodeOne, encodeAll, trainTime) = bytes.withUnsafeBufferPointer { text in
            let one = medianSeconds(repeats: repeats) { ids = bpe.encodeOrdinary(text, threads: 1) }
            let all = medianSeconds(repeats: repeats) { ids = bpe.encodeOrdinary(text, threads: threads) }
            let train = medianSeconds(repeats: max(1, repeats / 2)) {
                let counts = ChunkCounter.counting(text, threads: threads)
                vocabularySize = (try? BPETrainer.train(counts: counts, vocabularySize: trainVocabSize))?.vocabularySize ?? 0
            }
            return (one, all, train)
        }
        var decodedCount = 0
        let decode = medianSeconds(repeats: repeats) { decodedCount = (try? bpe.decodeBytes(ids))?.count ?? 0 }
        guard decodedCount == bytes.count else {
            throw CommandError("decoding did not reproduce the input (\(decodedCount) of \(bytes.count) bytes)")
        }
        print(String(format: "%@: %.2f MB, %d tokens (%@)", input, megabytes, ids.count, bpe.name))
        print(String(format: "encode  1 thread : %8.2f MB/s", megabytes / encodeOne))
        print(String(format: "encode %2d threads: %8.2f MB/s", threads, megabytes / encodeAll))
        print(String(format: "decode           : %8.2f MB/s", megabytes / decode))
        print(String(format: "train %d tokens  : %8.3f s", vocabularySize, trainTime))
        print(String(format: "peak RSS         : %8.1f MB", peakRSSMegabytes()))
        if json {
            try printJSONLine([
                "bytes": bytes.count, "threads": threads, "tokens": ids.count,
                "encode_mb_per_s": rounded(megabytes / encodeOne, 3),
                "encode_mb_per_s_all_threads": rounded(megabytes / encodeAll, 3),
                "decode_mb_per_s": rounded(megabytes / decode, 3),
                "train_seconds": rounded(trainTime, 4), "vocab_size": vocabularySize,
                "peak_rss_mb": rounded(peakRSSMegabytes(), 1),
            ] as [String: Any])
        }
    }
}
