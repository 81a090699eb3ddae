// `gpt finetune classify`: GPT-1's supervised fine-tuning. A pre-trained checkpoint gets a
// new linear head on the last token's final hidden state and the whole network is trained
// on labeled text with L_classification + λ·L_LM; test accuracy, macro-F1 and the confusion
// matrix are reported after every epoch, and the classifier is saved atomically.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTDistributed
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct FinetuneClassify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Fine-tune a pre-trained GPT as a text classifier (GPT-1's objective).",
        discussion: """
        --train and --test are JSON Lines ({"text": ..., "label": ...} per line; labels strings or \
        integers) or CSV / TSV files with a header naming `text` and `label` columns. The classes are \
        the training file's labels; a test label outside them is an error.
        Each input is tokenized with the checkpoint's tokenizer, followed by its end-of-text token \
        where it has one; inputs longer than --max-length tokens lose tokens from the end \
        (--truncate right, the default) or from the start (--truncate left). Batches are padded on \
        the right, so the head reads each input at its own last token and never a pad.
        The loss is cross-entropy on the label plus --aux-lm-weight × the language-model loss on \
        the same inputs. --init random keeps the checkpoint's architecture and tokenizer but starts \
        from fresh weights (the no-pre-training baseline).
        After each epoch --out/checkpoint is replaced atomically by the classifier (the checkpoint's \
        files plus score.weight, score.bias and classifier.json with the label names), and a line is \
        appended to --out/metrics.jsonl. Ctrl-C saves the classifier as it is and exits with 130; \
        the same command with --resume then continues from --out/checkpoint, bit for bit as if it \
        had not stopped.
        Examples:
          gpt finetune classify --checkpoint runs/pretrain --out runs/clf \\
              --train train.jsonl --test test.jsonl
          gpt finetune classify --checkpoint runs/pretrain --out runs/clf \\
              --train t.csv --test v.csv --epochs 5 --learning-rate 5e-5 \\
              --aux-lm-weight 0
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "Labeled training examples: .jsonl, .csv or .tsv.") var train: String
    @Option(help: "Labeled test examples, reported after each epoch.") var test: String
    @Option(help: "Output directory for the classifier and metrics.jsonl.") var out: String
    @Option(help: "λ, the weight of the auxiliary language-model loss (0 disables it).") var auxLmWeight: Float = 0.5
    @Option(parsing: .unconditional, help: "Passes over the training examples.") var epochs = 3
    @Option(name: .customLong("init"), help: "pretrained: start from the checkpoint's weights; random: fresh weights, same architecture.")
    var initialization = Initialization.pretrained
    @Option(help: "Peak learning rate (after linear warmup, cosine decay to --min-learning-rate).") var learningRate: Float = 1e-4
    @Option(help: "Learning rate at the end.") var minLearningRate: Float = 0
    @Option(help: "Fraction of the steps spent warming up.") var warmupFraction = 0.05
    @Option(parsing: .unconditional, help: "Examples per step.") var batchSize = 32
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.01
    @Option(help: "Clip the global gradient norm to this (0: no clipping).") var gradClip: Float = 1
    @Option(help: "Dropout for embeddings, attention and residuals (default: the checkpoint's).") var dropout: Float?
    @Option(help: "Maximum tokens per input, end token included (default: the model's context).") var maxLength: Int?
    @Option(help: "Which end of a long input is cut: right (keep the start) or left (keep the end).") var truncate = Truncation.right
    @Option(help: "Whether each input ends with the tokenizer's <|endoftext|> token, the position the head reads (true/false).")
    var endToken = true
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the checkpoint's).") var tokenizer: String?
    @Option(help: "Seed for the head, data order, dropout, and fresh weights with --init random.") var seed: UInt64 = 1337
    @Option(parsing: .unconditional, help: "Refuse training data with more distinct labels than this (an ID column picked by mistake?).")
    var maxClasses = 1000
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var runDirectory: RunDirectoryOptions
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard auxLmWeight >= 0, auxLmWeight.isFinite else { throw ValidationError("--aux-lm-weight must be ≥ 0, got \(auxLmWeight)") }
        guard (1...10_000).contains(epochs) else { throw ValidationError("--epochs must be in 1...10000, got \(epochs)") }
        guard (1...65_536).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...65536, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite, minLearningRate >= 0, minLearningRate <= learningRate else {
            throw ValidationError("need 0 ≤ --min-learning-rate ≤ --learning-rate, a finite --learning-rate > 0")
        }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard gradClip >= 0, gradClip.isFinite else { throw ValidationError("--grad-clip must be ≥ 0 (0: no clipping), got \(gradClip)") }
        guard maxClasses >= 2 else { throw ValidationError("--max-classes must be at least 2, got \(maxClasses)") }
        guard (0..<1).contains(warmupFraction) else { throw ValidationError("--warmup-fraction must be in [0, 1), got \(warmupFraction)") }
        if let dropout, !(0..<1).contains(dropout) { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
    }

    func run() throws {
        try DataParallelCommand.refuseRanks("gpt finetune classify")
        let source = try checkpointSource.directory()
        try CheckpointLocation.refuseOutput(out, holding: source)
        var config = try HuggingFaceGPT2.loadConfig(source.appendingPathComponent("config.json"))
        if let dropout { config.embeddingDropout = dropout; config.attentionDropout = dropout; config.residualDropout = dropout }
        let tokens = try TokenizerLoader.load(tokenizer ?? source.path)
        try VocabularyCheck.check(tokens, modelVocabulary: config.vocabSize, use: .encode)
        let maxLength = self.maxLength ?? config.contextLength
        guard (2...config.contextLength).contains(maxLength) else {
            throw CommandError("--max-length must be in 2...\(config.contextLength) (the model's context), got \(maxLength)")
        }
        let trainExamples = try LabeledExamples.read(URL(fileURLWithPath: train))
        let labels = LabeledExamples.labelNames(trainExamples)
        guard labels.count >= 2 else { throw ClassificationDataError.singleClass(label: labels.first ?? "", path: train) }
        guard labels.count <= maxClasses else {
            throw CommandError("\(train) has \(labels.count) distinct labels, more than --max-classes \(maxClasses) "
                               + "(a column of IDs or free text?); raise --max-classes if that many classes are meant")
        }
        try MemoryBudget.require(config.trainingBytes(batch: batchSize, seq: maxLength, threads: threading.threads),
                                 for: "fine-tuning with --batch-size \(batchSize) and --max-length \(maxLength)")
        let model = try loadModel(config, from: source, classCount: labels.count, pool: try ThreadPool(threads: threading.threads))
        let settings = ClassifierSettings(labels: labels, maxLength: maxLength, truncation: truncate, endToken: endToken)
        let encoder = try settings.encoder(tokens)
        let trainInputs = try encoder.encode(trainExamples, labelNames: labels, path: train)
        let testInputs = try encoder.encode(try LabeledExamples.read(URL(fileURLWithPath: test)), labelNames: labels, path: test)
        describe(trainInputs, testInputs, labels: labels, model: model, tokenizer: tokens)

        let classifier = try SequenceClassifier(model: model)
        var options = ClassifierTrainingOptions()
        options.epochs = epochs; options.batchSize = batchSize; options.learningRate = learningRate
        options.minLearningRate = minLearningRate; options.warmupFraction = warmupFraction; options.gradientClip = gradClip
        options.languageModelWeight = auxLmWeight; options.seed = seed; options.optimizer.weightDecay = weightDecay
        let trainer = try ClassifierTrainer(classifier: classifier, train: trainInputs, padding: encoder.paddingToken, options: options)

        let directory = try runDirectory.open(out)
        let run = ClassifierRun(trainer: trainer, test: testInputs, settings: settings, tokenizer: tokens, padding: encoder.paddingToken)
        let loop = RunLoop(run: run, directory: directory,
                           observers: [MetricsLog(url: directory.url.appendingPathComponent(MetricsLog.fileName), every: nil), ProgressLine()])
        let outcome = try loop.start(resume: runDirectory.resume)
        try outcome.report(directory)
        guard case .finished = outcome else { return }
        if output.json, let last = run.lastEvaluation {
            try printJSONLine(["test_accuracy": last.metrics.accuracy, "test_macro_f1": last.metrics.macroF1, "epochs": epochs,
                               "test_loss": Double(last.meanLoss), "labels": labels, "confusion_matrix": last.metrics.confusion])
        }
    }

    /// The checkpoint's language model (or fresh weights of its shape) with a new head over
    /// `classCount` classes, in one parameter layout.
    func loadModel(_ config: GPTConfig, from source: URL, classCount: Int, pool: ThreadPool) throws -> GPT {
        if initialization == .random { return try GPT(config: config, classCount: classCount, seed: seed, pool: pool) }
        let weights = source.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else { throw CheckpointError.missingFile(weights.path) }
        let file = try SafeTensorsFile(contentsOf: weights)
        try HuggingFaceGPT2.checkWeights(file, match: config, classCount: classCount, includeHead: false)
        let model = try GPT(config: config, classCount: classCount, pool: pool)
        try HuggingFaceGPT2.loadWeights(file, into: model, includeHead: false)
        ClassificationHead(model)?.initialize(seed: seed ^ 0x48EA_D5EE_D000_0001)
        return model
    }

    func describe(_ train: ClassificationInputs, _ test: ClassificationInputs, labels: [String], model: GPT, tokenizer: any Tokenizer) {
        func counts(_ inputs: ClassificationInputs) -> String {
            var n = [Int](repeating: 0, count: labels.count)
            for l in inputs.labels { n[l] += 1 }
            return zip(labels, n).map { "\($0)=\($1)" }.joined(separator: " ")
        }
        func lengths(_ inputs: ClassificationInputs) -> String {
            let total = inputs.sequences.reduce(0) { $0 + $1.count }
            return String(format: "mean %.1f, max %d tokens, %d truncated", Double(total) / Double(max(1, inputs.count)),
                          inputs.sequences.map(\.count).max() ?? 0, inputs.truncatedCount)
        }
        print("model: \(model.parameterCount) parameters (\(model.config.layerCount) layers, \(model.config.embeddingSize) wide), "
              + "tokenizer \(tokenizer.name), init \(initialization), λ = \(auxLmWeight)")
        print("train: \(train.count) examples (\(counts(train))); \(lengths(train))")
        print("test:  \(test.count) examples (\(counts(test))); \(lengths(test))")
    }
}

/// Where fine-tuning starts: the checkpoint's weights, or fresh ones of its shape (the baseline).
enum Initialization: String, ExpressibleByArgument, CaseIterable {
    case pretrained, random
}

extension Truncation: ExpressibleByArgument {}
