// `gpt tokenizer train`: learn a byte-level BPE vocabulary from text files.
import ArgumentParser
import Foundation
import GPTIO
import GPTData
import GPTTokenizer

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a byte-level BPE vocabulary (GPT-2 split pattern) from text files.",
        discussion: """
        INPUT may be text files, directories, or .jsonl files with a "text" field; --pairs FILE.jsonl \
        adds translation pairs ({"source", "target"} per line), whose two sides train one joint \
        vocabulary. The corpus is \
        streamed: only chunk counts are kept. Ties between equally frequent pairs go to the \
        smaller left id, then the smaller right id. <|endoftext|> takes the last id.
        Examples:
          gpt tokenizer train corpus.txt --vocab-size 4096 --out tok.json
          gpt tokenizer train data/ --vocab-size 8000 --out tok.json --export-hf hf/
          gpt tokenizer train --pairs train.jsonl --vocab-size 8000 --out joint.json
        """)

    @Argument(help: "Text files, directories or .jsonl files.") var inputs: [String] = []
    @Option(help: ArgumentHelp("A JSON Lines file of translation pairs; both sides are read (repeatable).", valueName: "file"))
    var pairs: [String] = []
    @Option(help: "Vocabulary size including <|endoftext|> (at least 257).") var vocabSize: Int
    @Option(help: "Tokenizer file to write.") var out: String
    @Option(help: "Also write vocab.json and merges.txt (Hugging Face / GPT-2 format) into this directory.")
    var exportHf: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard !inputs.isEmpty || !pairs.isEmpty else { throw ValidationError("give INPUT files or --pairs FILE.jsonl") }
    }

    func run() throws {
        let started = Date()
        let bar = ProgressPrinter()
        let counts = try CorpusChunkCounting.count(inputs: corpusInputs(), threads: threading.threads,
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

    /// INPUT files, then the --pairs files.
    func corpusInputs() throws -> [CorpusInput] {
        (inputs.isEmpty ? [] : try CorpusInput.resolve(inputs)) + (try CorpusInput.resolvePairs(pairs))
    }
}
