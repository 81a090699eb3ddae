// `gpt finetune classify`: GPT-1's supervised fine-tuning. A pre-trained checkpoint gets a
// new linear head on the last token's final hidden state and the whole network is trained
// on labeled text with L_classification + λ·L_LM; test accuracy, macro-F1 and the confusion
// matrix are reported after every epoch, and the classifier is saved atomically.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
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

    @Option(help: "A pre-trained checkpoint (ours or Hugging Face GPT-2), or a run directory of gpt train.") var checkpoint: String
    @Option(help: "Labeled training examples: .jsonl, .csv or .tsv.") var train: String
    @Option(help: "Labeled test examples, reported after each epoch.") var test: String
    @Option(help: "Output directory for the classifier and metrics.jsonl.") var out: String
    @Option(help: "λ, the weight of the auxiliary language-model loss (0 disables it).") var auxLmWeight: Float = 0.5
    @Option(help: "Passes over the training examples.") var epochs = 3
    @Option(name: .customLong("init"), help: "pretrained: start from the checkpoint's weights; random: fresh weights, same architecture.") var initialization = "pretrained"
    @Option(help: "Peak learning rate (after linear warmup, cosine decay to --min-learning-rate).") var learningRate: Float = 1e-4
    @Option(help: "Learning rate at the end.") var minLearningRate: Float = 0
    @Option(help: "Fraction of the steps spent warming up.") var warmupFraction = 0.05
    @Option(help: "Examples per step.") var batchSize = 32
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.01
    @Option(help: "Clip the global gradient norm to this (0: no clipping).") var gradClip: Float = 1
    @Option(help: "Dropout for embeddings, attention and residuals (default: the checkpoint's).") var dropout: Float?
    @Option(help: "Maximum tokens per input, end token included (default: the model's context).") var maxLength: Int?
    @Option(help: "Which end of a long input is cut: right (keep the start) or left (keep the end).") var truncate = Truncation.right
    @Option(help: "Whether each input ends with the tokenizer's <|endoftext|> token, the position the head reads (true/false).")
    var endToken = true
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the checkpoint's).") var tokenizer: String?
    @Option(help: "Seed for the head, data order, dropout, and fresh weights with --init random.") var seed: UInt64 = 1337
    @Option(help: "Worker threads, one per core unless set.") var threads = ThreadPool.coreCount
    @Flag(help: "Continue the run in --out from its checkpoint, exactly as if it had not stopped.") var resume = false
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard ["pretrained", "random"].contains(initialization) else {
            throw ValidationError("--init must be pretrained or random, got '\(initialization)'")
        }
        guard auxLmWeight >= 0, auxLmWeight.isFinite else { throw ValidationError("--aux-lm-weight must be ≥ 0, got \(auxLmWeight)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard learningRate > 0, minLearningRate >= 0, minLearningRate <= learningRate else {
            throw ValidationError("need 0 ≤ --min-learning-rate ≤ --learning-rate and --learning-rate > 0")
        }
        guard (0..<1).contains(warmupFraction) else { throw ValidationError("--warmup-fraction must be in [0, 1), got \(warmupFraction)") }
        if let dropout, !(0..<1).contains(dropout) { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let source = checkpointDirectory(checkpoint)
        try refuseOutputHoldingSource(out: out, source: source)
        let pool = try ThreadPool(threads: threads)
        let (model, tokens) = try loadModel(from: source, pool: pool)
        let maxLength = self.maxLength ?? model.config.contextLength
        guard (2...model.config.contextLength).contains(maxLength) else {
            throw CommandError("--max-length must be in 2...\(model.config.contextLength) (the model's context), got \(maxLength)")
        }
        var settings = ClassifierSettings(labels: [], maxLength: maxLength, truncation: truncate, endToken: endToken)
        let encoder = try settings.encoder(tokens)
        let trainExamples = try LabeledExamples.read(URL(fileURLWithPath: train))
        let labels = LabeledExamples.labelNames(trainExamples)
        guard labels.count >= 2 else { throw ClassificationDataError.singleClass(label: labels.first ?? "", path: train) }
        let trainInputs = try encoder.encode(trainExamples, labelNames: labels, path: train)
        let testInputs = try encoder.encode(try LabeledExamples.read(URL(fileURLWithPath: test)), labelNames: labels, path: test)
        describe(trainInputs, testInputs, labels: labels, model: model, tokenizer: tokens)

        let head = ClassificationHead(inputSize: model.config.embeddingSize, classCount: labels.count, seed: seed ^ 0x48EA_D5EE_D000_0001)
        let classifier = SequenceClassifier(model: model, head: head)
        var options = ClassifierTrainingOptions()
        options.epochs = epochs; options.batchSize = batchSize; options.learningRate = learningRate
        options.minLearningRate = minLearningRate; options.warmupFraction = warmupFraction; options.gradientClip = gradClip
        options.languageModelWeight = auxLmWeight; options.seed = seed; options.optimizer.weightDecay = weightDecay
        let trainer = try ClassifierTrainer(classifier: classifier, train: trainInputs, padding: encoder.paddingToken, options: options)
        settings.labels = labels
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let metricsURL = directory.appendingPathComponent("metrics.jsonl")
        if resume {
            let saved = directory.appendingPathComponent(TrainingCheckpoint.linkName)
            guard FileManager.default.fileExists(atPath: saved.path) else {
                throw CommandError("--resume: \(directory.path) holds no checkpoint to continue from")
            }
            try ClassifierCheckpoint.restore(trainer, settings: settings, from: saved)
            try keepMetrics(metricsURL, throughEpoch: trainer.completedEpochs)
            guard trainer.stepsDone < trainer.totalSteps else {
                print("the run in \(directory.path) is complete (\(trainer.totalSteps) steps); nothing to resume")
                return
            }
            print("resuming after step \(trainer.stepsDone) of \(trainer.totalSteps), in epoch \(trainer.completedEpochs + 1)")
        } else {
            try? FileManager.default.removeItem(at: metricsURL)
        }

        let interrupt = InterruptFlag()
        let progress = StepProgress(total: trainer.totalSteps)
        var last: ClassifierEvaluation?
        let started = Date()
        for epoch in (trainer.completedEpochs + 1)...epochs {
            let trainLoss: Float
            do {
                trainLoss = try trainer.runEpoch(epoch) { r in
                    progress.update(step: r.step, text: String(format: "epoch %d/%d  step %d/%d  loss %.4f (classifier %.4f, LM %.4f)  lr %.2e  %.0f ms/step",
                                                                 epoch, epochs, r.step, r.totalSteps, r.loss.total, r.loss.classification,
                                                                 r.loss.languageModel, r.learningRate, r.milliseconds))
                    // At an epoch's last step, the epoch ends first: its test report then comes before the save.
                    if interrupt.raised && r.step % trainer.stepsPerEpoch != 0 { throw CancellationError() }
                }
            } catch is CancellationError {
                progress.finish()
                guard model.parametersAreFinite && head.parametersAreFinite else {
                    throw CommandError("interrupted with weights that are not finite; nothing saved")
                }
                try ClassifierCheckpoint.save(classifier, settings: settings, tokenizer: tokens, in: directory,
                                              name: "step-\(trainer.stepsDone)", trainer: trainer)
                print("interrupted in epoch \(epoch); the classifier as it is was saved in \(directory.path)/checkpoint "
                      + "(continue with --resume)")
                throw ExitCode(130)
            }
            progress.finish()
            let evaluation = try classifier.evaluate(testInputs, labels: labels, padding: encoder.paddingToken)
            last = evaluation
            print(String(format: "epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.4f  macro-F1 %.4f  (%.0f s)",
                         epoch, epochs, trainLoss, evaluation.meanLoss, evaluation.metrics.accuracy, evaluation.metrics.macroF1,
                         Date().timeIntervalSince(started)))
            print(evaluation.metrics.table)
            try appendMetrics(metricsURL, epoch: epoch, step: trainer.stepsDone, trainLoss: trainLoss, evaluation: evaluation,
                              elapsed: Date().timeIntervalSince(started))
            guard model.parametersAreFinite && head.parametersAreFinite else {
                throw CommandError("the weights are not finite after epoch \(epoch); not saved (lower --learning-rate)")
            }
            try ClassifierCheckpoint.save(classifier, settings: settings, tokenizer: tokens, in: directory, name: "epoch-\(epoch)",
                                          trainer: trainer)
            if interrupt.raised && epoch < epochs {
                print("interrupted after epoch \(epoch); the classifier was saved in \(directory.path)/checkpoint (continue with --resume)")
                throw ExitCode(130)
            }
        }
        print("classifier saved in \(directory.path)/checkpoint")
        if json, let last {
            try printJSONLine(["test_accuracy": last.metrics.accuracy, "test_macro_f1": last.metrics.macroF1, "epochs": epochs,
                               "test_loss": Double(last.meanLoss), "labels": labels, "confusion_matrix": last.metrics.confusion])
        }
    }

    /// The checkpoint's model (or a freshly initialised one of its shape) and the tokenizer.
    func loadModel(from source: URL, pool: ThreadPool) throws -> (GPT, any Tokenizer) {
        var config = try HuggingFaceGPT2.loadConfig(source.appendingPathComponent("config.json"))
        if let dropout { config.embeddingDropout = dropout; config.attentionDropout = dropout; config.residualDropout = dropout }
        let model: GPT
        if initialization == "random" {
            model = try GPT(config: config, seed: seed, pool: pool)
        } else {
            let weights = source.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: weights.path) else { throw CheckpointError.missingFile(weights.path) }
            model = try GPT(config: config, pool: pool)
            try HuggingFaceGPT2.loadWeights(SafeTensorsFile(contentsOf: weights), into: model)
        }
        let tokens = try TokenizerLoader.load(tokenizer ?? source.path)
        guard tokens.vocabularySize <= config.vocabSize else {
            throw CommandError("the tokenizer has \(tokens.vocabularySize) ids but the model only \(config.vocabSize)")
        }
        return (model, tokens)
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

    /// Drops metrics lines of epochs after `epoch`: written before a kill, after the checkpoint resumed from.
    func keepMetrics(_ url: URL, throughEpoch epoch: Int) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["epoch"] as? Int).map { $0 <= epoch } ?? false
        }
        try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: url)
    }

    func appendMetrics(_ url: URL, epoch: Int, step: Int, trainLoss: Float, evaluation: ClassifierEvaluation, elapsed: Double) throws {
        let line: [String: Any] = ["epoch": epoch, "step": step, "train_loss": Double(trainLoss), "test_loss": Double(evaluation.meanLoss),
                                   "test_accuracy": evaluation.metrics.accuracy, "test_macro_f1": evaluation.metrics.macroF1,
                                   "confusion_matrix": evaluation.metrics.confusion, "elapsed_s": elapsed]
        var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        data.append(0x0A)
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }
}

extension Truncation: ExpressibleByArgument {}

/// One progress line for step loops: redrawn in place on a terminal, otherwise printed
/// every 2% of the steps (plain lines under CI or NO_COLOR).
final class StepProgress {
    let total: Int
    let live: Bool
    private var lastDraw = Date.distantPast

    init(total: Int) {
        self.total = total
        let environment = ProcessInfo.processInfo.environment
        live = isatty(STDERR_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["CI"] == nil
    }

    func update(step: Int, text: @autoclosure () -> String) {
        if live {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.2 || step == total else { return }
            lastDraw = now
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text()).utf8))
        } else if step % max(1, total / 50) == 0 || step == total {
            FileHandle.standardError.write(Data((text() + "\n").utf8))
        }
    }

    func finish() {
        if live { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
