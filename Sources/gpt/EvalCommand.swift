// `gpt eval`: mean loss and perplexity of a checkpoint on a text file or a prepared split.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer
import GPTTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and perplexity of a checkpoint on text or a prepared dataset.",
        discussion: """
        --data takes a UTF-8 text file (encoded with the checkpoint's tokenizer) or a directory made \
        by `gpt prepare` (its validation split, or --split train).
        Example: gpt eval --checkpoint runs/demo --data notes.txt --json
        """)

    @Option(help: "A checkpoint directory (ours or Hugging Face GPT-2), or a run directory of gpt train.") var checkpoint: String
    @Option(help: "A text file, or a directory prepared by `gpt prepare`.") var data: String
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the one in the checkpoint).") var tokenizer: String?
    @Option(help: "For a prepared directory: val or train.") var split = "val"
    @Option(help: "Sequences per forward pass.") var batch = 8
    @Option(help: "Worker threads, one per core unless set.") var threads = ThreadPool.coreCount
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard ["val", "train"].contains(split) else { throw ValidationError("--split must be val or train, got '\(split)'") }
        guard batch >= 1, threads >= 1 else { throw ValidationError("--batch and --threads must be at least 1") }
    }

    func run() throws {
        let directory = checkpointDirectory(checkpoint)
        let model = try HuggingFaceGPT2.load(directory: directory, pool: ThreadPool(threads: threads))
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) else {
            throw CommandError("--data \(data) does not exist")
        }
        let progress = { (done: Int, total: Int) in
            FileHandle.standardError.write(Data(String(format: "\rscored %d / %d tokens", done, total).utf8))
        }
        let result: EvaluationResult
        if isDirectory.boolValue {
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: data))
            let file = split == "val" ? dataset.validation : dataset.train
            try checkVocabulary(dataset.tokenizer.vocabularySize, model)
            result = try Evaluation.meanLoss(model: model, count: file.count, batch: batch,
                                             fill: { file.copy($0, to: $1) }, progress: progress)
        } else {
            let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
            try checkVocabulary(tokens.vocabularySize, model)
            guard let contents = FileManager.default.contents(atPath: data) else { throw CommandError("cannot read --data \(data)") }
            let ids = try tokens.encode(String(decoding: contents, as: UTF8.self)).map(Int32.init)
            result = try Evaluation.meanLoss(model: model, count: ids.count, batch: batch, fill: { range, out in
                ids.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound, count: range.count) }
            }, progress: progress)
        }
        FileHandle.standardError.write(Data("\n".utf8))
        print(String(format: "loss %.4f, perplexity %.3f over %d tokens", result.loss, result.perplexity, result.tokens))
        if json { try printJSONLine(["loss": result.loss, "perplexity": result.perplexity, "tokens": result.tokens]) }
    }

    func checkVocabulary(_ size: Int, _ model: GPT) throws {
        guard size <= model.config.vocabSize else {
            throw CommandError("the tokenizer has \(size) ids but the model only \(model.config.vocabSize)")
        }
    }
}
