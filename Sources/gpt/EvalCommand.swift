// `gpt eval`: mean loss and perplexity of a checkpoint on a text file or a prepared split.
import ArgumentParser
import Foundation
import GPTIO
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

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "A text file, or a directory prepared by `gpt prepare`.") var data: String
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the one in the checkpoint).") var tokenizer: String?
    @Option(help: "For a prepared directory: val or train.") var split = Split.val
    @Option(help: "Sequences per forward pass.") var batch = 8
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: JSONOutput

    enum Split: String, ExpressibleByArgument, CaseIterable { case val, train }

    func validate() throws {
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
    }

    func run() throws {
        let directory = try checkpointSource.directory()
        let model = try HuggingFaceGPT2.load(directory: directory, pool: try ThreadPool(threads: threading.threads))
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) else {
            throw CommandError("--data \(data) does not exist")
        }
        let progress = { (done: Int, total: Int) in
            StandardStreams.error(String(format: "\rscored %d / %d tokens", done, total))
        }
        let result: EvaluationResult
        if isDirectory.boolValue {
            // Scored straight from the memory-mapped token file.
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: data))
            let file = split == .val ? dataset.validation : dataset.train
            try VocabularyCheck.check(dataset.tokenizer, modelVocabulary: model.config.vocabSize, use: .encode)
            result = try Evaluation.meanLoss(model: model, count: file.count, batch: batch,
                                             fill: { file.copy($0, to: $1) }, progress: progress)
        } else {
            let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
            try VocabularyCheck.check(tokens, modelVocabulary: model.config.vocabSize, use: .encode)
            let ids = try TokenizedCorpus.load(data, tokenizer: .given(tokens), validationFraction: 0).train
            result = try Evaluation.meanLoss(model: model, count: ids.count, batch: batch, fill: { range, out in
                ids.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound, count: range.count) }
            }, progress: progress)
        }
        StandardStreams.error("\n")
        print(String(format: "loss %.4f, perplexity %.3f over %d tokens", result.loss, result.perplexity, result.tokens))
        if output.json { try printJSONLine(["loss": result.loss, "perplexity": result.perplexity, "tokens": result.tokens]) }
    }
}
