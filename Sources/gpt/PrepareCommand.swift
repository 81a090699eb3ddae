// `gpt prepare` (../shared/CLI.md): corpus -> train.bin, val.bin, meta.json and the
// tokenizer file, streamed and encoded on all cores.
import ArgumentParser
import Foundation
import GPTTraining
import GPTIO
import GPTData
import GPTTokenizer

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize a corpus into train.bin / val.bin for training.",
        discussion: """
        INPUT may be text files (one document each), directories, or .jsonl files (one document per \
        line, in the "text" field). Documents are joined by <|endoftext|> for BPE tokenizers. The last \
        --val-fraction of the text (by bytes) becomes val.bin. Ids are raw little-endian uint16 (uint32 \
        if the vocabulary exceeds 65,536); meta.json records dtype, vocabulary, token counts and the \
        SHA-256 of the inputs. --format llmc writes llm.c's shards instead (a 1,024-byte header, then \
        uint16 ids; NAME_train_000000.bin …, NAME_val_000000.bin …, NAME being the directory's name), \
        which llm.c and modded-nanogpt read too.
        Examples:
          gpt prepare input.txt --tokenizer char --out data/shakespeare_char
          gpt prepare input.txt --tokenizer gpt2 --out data/shakespeare
          gpt prepare docs/ --tokenizer tok.json --out data/docs --val-fraction 0.005
          gpt prepare corpus.txt --tokenizer gpt2 --out data/corpus --format llmc
        """)

    @Argument(help: "Text files, directories or .jsonl files.") var inputs: [String]
    @Option(help: "char, gpt2, or a path (.tiktoken, vocab.json, tokenizer file).") var tokenizer: String
    @Option(help: "Output directory.") var out: String
    @Option(help: "Fraction of the text for validation, in [0, 1).") var valFraction = 0.1
    @Option(help: "native (train.bin, val.bin) or llmc (llm.c's token shards).") var format = DatasetFormat.native
    @Option(help: "With --format llmc: tokens per shard (llm.c's FineWeb uses 100,000,000).")
    var shardTokens = LLMCShard.defaultShardTokens
    @OptionGroup var threading: ThreadOptions
    @Flag(help: "Print meta.json's contents as one JSON object on the last line.") var json = false

    func validate() throws {
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard (1...Int(Int32.max)).contains(shardTokens) else {
            throw ValidationError("--shard-tokens must be in 1...\(Int32.max), got \(shardTokens)")
        }
    }

    func run() throws {
        let choice: DataPreparer.TokenizerChoice = tokenizer == "char"
            ? .characters : .given(try TokenizerLoader.load(tokenizer))
        let bar = ProgressPrinter()
        let started = Date()
        let signals = StopSignals()
        let meta: DatasetMeta
        do {
            let directory = URL(fileURLWithPath: out)
            meta = try DataPreparer.prepare(
                inputs: CorpusInput.resolve(inputs, excluding: DataPreparer.outputFiles(in: directory)), tokenizer: choice,
                outputDirectory: directory, validationFraction: valFraction, threads: threading.threads, format: format,
                shardTokens: shardTokens, progress: bar.update,
                shouldStop: { signals.received != nil })
        } catch DataError.interrupted {
            bar.finish()
            StandardStreams.error("interrupted; no token files were written to \(out)\n")
            throw ExitCode(StopSignals.exitStatus(signals.received ?? SIGINT))
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        print(String(format: "%@: %d train + %d val tokens (%@, vocabulary %d, %d documents), %.1f MB in %.2f s (%.1f MB/s)",
                     out, meta.trainTokens, meta.validationTokens, meta.dtype.rawValue, meta.vocabularySize, meta.documents,
                     Double(meta.sourceBytes) / 1e6, seconds, Double(meta.sourceBytes) / 1e6 / max(seconds, 1e-9)))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(meta), as: UTF8.self))
        }
    }
}

extension DatasetFormat: ExpressibleByArgument {}
