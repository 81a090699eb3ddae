// `gpt eval`: mean loss and perplexity of a checkpoint on a text file or a prepared split.
import ArgumentParser
import Foundation
import GPTIO
import GPTCore
import GPTData
import GPTGeneration
import GPTKernels
import GPTTokenizer
import GPTTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and perplexity of a checkpoint on text or a prepared dataset, or its HellaSwag accuracy.",
        discussion: """
        --data takes a UTF-8 text file (encoded with the checkpoint's tokenizer) or a prepared \
        directory (`gpt prepare`, or llm.c shards): its validation split, or --split train.
        With --task hellaswag, --data is HellaSwag's JSON Lines (ctx, endings, label; `gpt data \
        hellaswag` fetches the validation set). Each ending, joined to the context by a space, is \
        scored by the loss on its tokens: acc picks the lowest summed loss, acc_norm the lowest \
        mean per token (llm.c's and nanoGPT's method). Chance is 25%.
        For an encoder–decoder checkpoint (`gpt train --pairs`), --pairs FILE.jsonl reports the         cross-entropy per target token (teacher forcing), then translates every source (greedy, or         --beam N) and reports corpus BLEU and chrF as sacreBLEU computes them (13a tokenisation).
        Examples:
          gpt eval --checkpoint runs/demo --data notes.txt --json
          gpt eval --checkpoint runs/gpt2 --task hellaswag \\
              --data "$(gpt data hellaswag)"
          gpt eval --checkpoint runs/en-es --pairs test.jsonl --beam 4 --json
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "A text file, or a directory prepared by `gpt prepare`.") var data: String?
    @Option(help: ArgumentHelp("For an encoder–decoder checkpoint: JSON Lines of {\"source\", \"target\"}; reports loss, BLEU and chrF.",
                               valueName: "file"))
    var pairs: String?
    @Option(help: "With --pairs: beams for the translations (1: greedy).") var beam = 1
    @Option(help: "With --pairs: α of the GNMT length penalty for beam search.") var lengthPenalty: Double = 0.6
    @Option(help: "With --pairs: most tokens generated per source, EOS included (default: the model's positions).") var maxLength: Int?
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the one in the checkpoint).") var tokenizer: String?
    @Option(help: "lm (loss and perplexity) or hellaswag (accuracy).") var task = Task.lm
    @Option(help: "For a prepared directory: val or train.") var split = Split.val
    @Option(help: "With --task hellaswag: score only the first N examples.") var limit: Int?
    @Option(help: "With --task hellaswag: write each example's ids, losses and choices to this JSON Lines file.")
    var details: String?
    @Option(help: "Sequences per forward pass.") var batch = 8
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var weights: WeightFormatOption
    @OptionGroup var output: JSONOutput

    enum Split: String, ExpressibleByArgument, CaseIterable { case val, train }
    enum Task: String, ExpressibleByArgument, CaseIterable { case lm, hellaswag }

    func validate() throws {
        guard (data == nil) != (pairs == nil) else { throw ValidationError("give --data (a GPT) or --pairs (an encoder–decoder), one of the two") }
        if pairs != nil && task != .lm { throw ValidationError("--task goes with --data") }
        guard (1...64).contains(beam) else { throw ValidationError("--beam must be in 1...64, got \(beam)") }
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1, got \(maxLength)") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if task == .lm, limit != nil || details != nil { throw ValidationError("--limit and --details go with --task hellaswag") }
    }

    func run() throws {
        let directory = try checkpointSource.directory()
        if let pairs { return try runPairs(pairs, directory: directory) }
        guard let data else { return }
        if Seq2SeqCheckpoint.isSeq2Seq(directory) {
            throw CommandError("\(directory.path) is an encoder–decoder checkpoint: evaluate it with --pairs FILE.jsonl")
        }
        let model = try HuggingFaceGPT2.load(directory: directory, pool: try ThreadPool(threads: threading.threads),
                                             weightFormat: weights.dtype)
        if task == .hellaswag { return try runHellaSwag(model: model, directory: directory) }
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
            result = try Evaluation.meanLoss(model: model, count: file.count, batch: batch, fill: { range, out in
                file.copy(range, to: out)
                // A split larger than the sampler's budget is read once, start to end: its pages go back as it goes.
                if file.mappedBytes > BatchSampler.residentBudget { file.release(range) }
            }, progress: progress)
        } else {
            let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
            try VocabularyCheck.check(tokens, modelVocabulary: model.config.vocabSize, use: .encode)
            let ids = try TokenizedCorpus.load(data, tokenizer: .given(tokens), validationFraction: 0).train
            result = try Evaluation.meanLoss(model: model, count: ids.count, batch: batch, fill: { ids.copy($0, to: $1) },
                                             progress: progress)
        }
        StandardStreams.error("\n")
        print(String(format: "loss %.4f, perplexity %.3f over %d tokens", result.loss, result.perplexity, result.tokens))
        if output.json { try printJSONLine(["loss": result.loss, "perplexity": result.perplexity, "tokens": result.tokens]) }
    }

    func runHellaSwag(model: GPT, directory: URL) throws {
        let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
        try VocabularyCheck.check(tokens, modelVocabulary: model.config.vocabSize, use: .encode)
        var examples = try HellaSwagExample.load(data ?? "")
        if let limit { examples = Array(examples.prefix(limit)) }
        let live = StandardStreams.isLiveTerminal
        let (result, scores) = try HellaSwag.evaluate(model: model, tokenizer: tokens, examples: examples) { done, total in
            if live || done == total { StandardStreams.error("\rscored \(done) / \(total) examples") }
        }
        StandardStreams.error("\n")
        if let details {
            let lines = try scores.map { score -> String in
                let object: [String: Any] = [
                    "context_ids": score.contextIDs, "ending_ids": score.endingIDs, "sum_losses": score.sumLosses,
                    "mean_losses": score.meanLosses, "scored_tokens": score.scoredTokens, "label": score.label,
                    "prediction": score.prediction, "prediction_norm": score.normalizedPrediction, "truncated": score.truncated,
                ]
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
            }
            try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: URL(fileURLWithPath: details))
        }
        print(String(format: "hellaswag: acc %.4f, acc_norm %.4f over %d examples (chance 0.25)%@", result.accuracy,
                     result.normalizedAccuracy, result.examples,
                     result.truncated > 0 ? ", \(result.truncated) cut to the model's context" as NSString : "" as NSString))
        if output.json {
            try printJSONLine(["acc": result.accuracy, "acc_norm": result.normalizedAccuracy, "examples": result.examples,
                               "truncated": result.truncated])
        }
    }

    /// An encoder–decoder on pairs: cross-entropy per target token (teacher forcing, no smoothing),
    /// then each source translated (greedy or beam) and scored by corpus BLEU and chrF (sacreBLEU's).
    func runPairs(_ path: String, directory: URL) throws {
        guard Seq2SeqCheckpoint.isSeq2Seq(directory) else {
            throw CommandError("--pairs needs an encoder–decoder checkpoint; \(directory.path) holds a GPT (use --data)")
        }
        let model = try Seq2SeqWeights.load(directory: directory, pool: try ThreadPool(threads: threading.threads))
        let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
        let pairs = try TranslationPairs.read(URL(fileURLWithPath: path))
        let tokenized = try TranslationPairs.tokenize(pairs, with: tokens)
        let batches = try TokenBudgetBatches(pairs: tokenized, options: .init(maxTokens: 4096, maxLength: model.config.maxPositions,
                                                                               extraTargetTokens: 1), seed: 0)
        let loss = try Seq2SeqTrainer.loss(model, pairs: tokenized, batches: batches, limit: .max)
        let translator = Translator(model: model, tokenizer: tokens)
        var hypotheses: [String] = []
        let started = Date()
        // Greedy decodes 32 sources together (the same tokens as one at a time); beams run per source.
        for start in stride(from: 0, to: tokenized.count, by: 32) {
            let chunk = tokenized[start..<min(start + 32, tokenized.count)].map(\.source)
            let results = try translator.translate(chunk, beam: beam, lengthPenalty: .gnmt(alpha: lengthPenalty),
                                                   maxLength: maxLength ?? model.config.maxPositions)
            hypotheses += results.map(\.text)
            StandardStreams.error(String(format: "\rtranslated %d / %d", hypotheses.count, tokenized.count))
        }
        StandardStreams.error("\n")
        let references = pairs.map(\.target)
        let bleu = try BLEU.corpusScore(hypotheses: hypotheses, references: references)
        let chrF = try ChrF.corpusScore(hypotheses: hypotheses, references: references)
        let seconds = Date().timeIntervalSince(started)
        print(String(format: "loss %.4f, perplexity %.3f over %d target tokens", loss.loss, exp(loss.loss), loss.tokens))
        print("\(bleu)")
        print(String(format: "chrF2 = %.2f", chrF))
        if output.json {
            try printJSONLine(["loss": loss.loss, "perplexity": exp(loss.loss), "tokens": loss.tokens, "bleu": bleu.score,
                               "chrf": chrF, "pairs": pairs.count, "beam": beam,
                               "translate_seconds": seconds])
        }
    }
}
