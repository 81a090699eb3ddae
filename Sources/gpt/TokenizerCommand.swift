// `gpt tokenizer train|encode|decode` (../shared/CLI.md): train a byte-level BPE on a
// corpus, and turn text into ids and back with any tokenizer.
import ArgumentParser
import Foundation
import GPTIO
import GPTData
import GPTTokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a BPE tokenizer, or encode and decode text.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self])
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a byte-level BPE vocabulary (GPT-2 split pattern) from text files.",
        discussion: """
        INPUT may be text files, directories, or .jsonl files with a "text" field. The corpus is \
        streamed: only chunk counts are kept. Ties between equally frequent pairs go to the \
        smaller left id, then the smaller right id. <|endoftext|> takes the last id.
        Examples:
          gpt tokenizer train corpus.txt --vocab-size 4096 --out tok.json
          gpt tokenizer train data/ --vocab-size 8000 --out tok.json --export-hf hf/
        """)

    @Argument(help: "Text files, directories or .jsonl files.") var inputs: [String]
    @Option(help: "Vocabulary size including <|endoftext|> (at least 257).") var vocabSize: Int
    @Option(help: "Tokenizer file to write.") var out: String
    @Option(help: "Also write vocab.json and merges.txt (Hugging Face / GPT-2 format) into this directory.")
    var exportHf: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
    }

    func run() throws {
        let started = Date()
        let bar = ProgressPrinter()
        let counts = try CorpusChunkCounting.count(inputs: CorpusInput.resolve(inputs), threads: threading.threads,
                                                   progress: bar.update)
        bar.finish()
        let name = URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent
        var lastReport = Date.distantPast
        let report = try BPETrainer.trainReporting(counts: counts, vocabularySize: vocabSize, name: name) { done, total in
            guard Date().timeIntervalSince(lastReport) >= 0.2 || done == total else { return }
            lastReport = Date()
            StandardStreams.error("\rmerges \(done)/\(total)   ")
        }
        StandardStreams.error("\n")
        let tokenizer = report.tokenizer
        if report.stoppedEarly { StandardStreams.error(report.summary + "\n") }
        try TokenizerFile.write(tokenizer, to: URL(fileURLWithPath: out))
        if let exportHf {
            let directory = URL(fileURLWithPath: exportHf)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try VocabMergesFiles.write(tokenizer, vocabulary: directory.appendingPathComponent("vocab.json"),
                                       merges: directory.appendingPathComponent("merges.txt"))
        }
        print(String(format: "trained %d tokens on %.1f MB (%d distinct chunks) in %.2f s -> %@",
                     tokenizer.vocabularySize, Double(counts.byteCount) / 1e6, counts.distinctChunks,
                     Date().timeIntervalSince(started), out))
    }
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Print the token ids of a text.",
        discussion: """
        The text is the argument, the --input file, or standard input. Special tokens such as \
        <|endoftext|> are ordinary text unless --allow-special is given (tiktoken's rule).
        Examples:
          gpt tokenizer encode --tokenizer gpt2 "Hello, world!"      # 15496 11 995 0
          gpt tokenizer encode --tokenizer gpt2 --input book.txt --count
          gpt tokenizer encode --tokenizer data/gpt-tokenizer.json "to be" --json
        """)

    @Option(help: "char, gpt2, or a path (.tiktoken, vocab.json, tokenizer file, or a directory holding one).")
    var tokenizer: String
    @Argument(help: "Text to encode.") var text: String?
    @Option(help: "Read the text from this file instead.") var input: String?
    @Flag(help: "Encode special tokens such as <|endoftext|> as their ids.") var allowSpecial = false
    @Flag(help: "Print only the number of tokens.") var count = false
    @Flag(help: "Print one JSON object: {\"ids\": [...], \"count\": N}.") var json = false
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard text == nil || input == nil else { throw ValidationError("give the text or --input, not both") }
    }

    func run() throws {
        let loaded = try TokenizerLoader.load(tokenizer)
        let bytes: [UInt8]
        if let text {
            bytes = Array(text.utf8)
        } else if let input {
            let data = try InputFile.read(input, what: "--input")
            bytes = Array(data)
        } else {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        let ids: [Int] = try bytes.withUnsafeBufferPointer { buffer in
            if let bpe = loaded as? BytePairTokenizer {
                return bpe.encode(utf8: buffer, allowedSpecial: allowSpecial ? Set(bpe.specialTokens.keys) : [],
                                  threads: threading.threads)
            }
            var ids: [Int] = []
            try loaded.encodeOrdinary(utf8: buffer, into: &ids)
            return ids
        }
        if count {
            print(json ? "{\"count\": \(ids.count)}" : String(ids.count))
        } else if json {
            print("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))], \"count\": \(ids.count)}")
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Print the text of token ids.",
        discussion: """
        The bytes of the tokens are written as they are (a partial UTF-8 character stays partial).
        Example:
          gpt tokenizer decode --tokenizer gpt2 15496 11 995 0      # Hello, world!
        """)

    @Option(help: "char, gpt2, or a path (.tiktoken, vocab.json, tokenizer file, or a directory holding one).")
    var tokenizer: String
    @Argument(help: "Token ids.") var ids: [Int]
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        let bytes = try TokenizerLoader.load(tokenizer).decodeBytes(ids)
        StandardStreams.output(bytes: bytes + [UInt8(ascii: "\n")])
    }
}
