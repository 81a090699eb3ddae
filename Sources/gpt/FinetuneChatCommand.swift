// `gpt finetune chat`: teach a checkpoint to answer turns of a conversation. The chat
// template's special tokens join the tokenizer and the embedding grows by their rows
// (the mean of the old rows); the loss counts assistant tokens only. The run is the
// one RunLoop's (progress line, metrics.jsonl, loss.svg, atomic checkpoints, Ctrl-C, --resume).
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct FinetuneChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Fine-tune a checkpoint on conversations (loss on assistant replies only).",
        discussion: """
        --train and --test are JSON Lines in OpenAI's fine-tuning format, one conversation per line: \
        {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}]}; an assistant message \
        with "weight": 0 is context, not a target. Without --test, every tenth conversation of --train \
        (chosen by a hash of its text) is held out as the test set.
        --template chatml (the default) renders <|im_start|>role\\ncontent<|im_end|>\\n per message and adds \
        <|im_start|> and <|im_end|> to the tokenizer as special tokens; the embedding grows by their rows, \
        initialised to the mean of the existing rows. --template plain ("User: ...\\nAssistant: ...") \
        needs no new tokens (for character-level models).
        Conversations longer than the context lose their oldest turns (the last assistant turn stays \
        whole); the count is printed. Batches are grouped by length. Each evaluation prints the \
        assistant-token test loss and perplexity and replies to a few test conversations.
        Output, checkpoints, Ctrl-C and --resume work as for gpt train. --steps 0 only evaluates the \
        starting model (after adding the tokens) and writes nothing.
        Examples:
          gpt finetune chat --checkpoint runs/base --train chats.jsonl --out runs/chat
          gpt finetune chat --checkpoint runs/base --train train.jsonl \\
              --test test.jsonl --out runs/chat --steps 300 --init random
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "Training conversations (.jsonl).") var train: String
    @Option(help: "Test conversations (.jsonl); default: every tenth of --train, by hash.") var test: String?
    @Option(help: "Output directory (checkpoint/, best/, metrics.jsonl, loss.svg).") var out: String
    @Option(help: "chatml or plain.") var template = "chatml"
    @Option(parsing: .unconditional, help: "Optimizer steps.") var steps = 500
    @Option(parsing: .unconditional, help: "Conversations per step.") var batchSize = 16
    @Option(help: "Peak learning rate (linear warmup, cosine decay to --min-learning-rate).") var learningRate: Float = 1e-4
    @Option(help: "Learning rate at the end (default: a tenth of --learning-rate).") var minLearningRate: Float?
    @Option(parsing: .unconditional, help: "Warmup steps.") var warmupSteps: Int?
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.01
    @Option(help: "Clip the global gradient norm to this (0: no clipping).") var gradClip: Float = 1
    @Option(help: "Dropout for embeddings, attention and residuals (default: the checkpoint's).") var dropout: Float?
    @Option(parsing: .unconditional, help: "Evaluate, reply to test conversations and save every N steps.") var evalEvery = 100
    @Option(parsing: .unconditional, help: "Test conversations replied to at each evaluation.") var samples = 3
    @Option(parsing: .unconditional, help: "Also save a checkpoint every N steps.") var checkpointEvery: Int?
    @Option(name: .customLong("init"), help: "pretrained: the checkpoint's weights; random: fresh weights, same architecture.")
    var initialization = Initialization.pretrained
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the checkpoint's).") var tokenizer: String?
    @Option(help: "Seed for data order, dropout, sample replies and fresh weights with --init random.") var seed: UInt64 = 1337
    @Option(parsing: .unconditional, help: "Write a metrics.jsonl line every N steps.") var logEvery = 1
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var runDirectory: RunDirectoryOptions
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard (0...Int(Int32.max)).contains(steps) else { throw ValidationError("--steps must be in 0...\(Int32.max), got \(steps)") }
        guard (1...65_536).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...65536, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be a finite number > 0") }
        if let minLearningRate, !(minLearningRate >= 0 && minLearningRate <= learningRate) {
            throw ValidationError("--min-learning-rate must be in 0...--learning-rate, got \(minLearningRate)")
        }
        if let warmupSteps, !(0...steps).contains(warmupSteps) { throw ValidationError("--warmup-steps must be in 0...\(steps)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard gradClip >= 0, gradClip.isFinite else { throw ValidationError("--grad-clip must be ≥ 0 (0: no clipping), got \(gradClip)") }
        if let dropout, !(0..<1).contains(dropout) { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        guard (0...Int(Int32.max)).contains(evalEvery), (0...100).contains(samples), logEvery >= 1 else {
            throw ValidationError("--eval-every must be in 0...\(Int32.max), --samples in 0...100, --log-every at least 1")
        }
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        guard ChatTemplates.named(template) != nil else { throw ValidationError(ChatTemplateError.unknownTemplate(name: template).description) }
    }

    func run() throws {
        try DataParallelCommand.refuseRanks("gpt finetune chat")
        let source = try checkpointSource.directory()
        try CheckpointLocation.refuseOutput(out, holding: source)
        var config = try HuggingFaceGPT2.loadConfig(source.appendingPathComponent("config.json"))
        if let dropout { config.embeddingDropout = dropout; config.attentionDropout = dropout; config.residualDropout = dropout }
        let chatTemplate = ChatTemplates.named(template)!  // validate() checked the name
        let base = try TokenizerLoader.load(tokenizer ?? source.path)
        try VocabularyCheck.check(base, modelVocabulary: config.vocabSize, use: .encode)
        let tokens = try ChatTokens.adding(chatTemplate, to: base)
        let encoder = try ChatEncoder(template: chatTemplate, tokenizer: tokens)

        let conversations = try ChatConversations.read(URL(fileURLWithPath: train))
        let split: (train: [Conversation], test: [Conversation])
        if let test {
            split = (conversations, try ChatConversations.read(URL(fileURLWithPath: test)))
        } else {
            split = ChatConversations.split(conversations)
            guard !split.test.isEmpty else { throw CommandError("the hash hold-out of \(train) left no test conversation; pass --test FILE") }
        }
        let (trainSet, testSet) = split
        let trainExamples = try ChatExamples(trainSet, encoder: encoder, contextLength: config.contextLength)
        let testExamples = try ChatExamples(testSet, encoder: encoder, contextLength: config.contextLength)

        let grownVocabulary = max(config.vocabSize, tokens.vocabularySize)
        var grownConfig = config
        grownConfig.vocabSize = grownVocabulary
        try MemoryBudget.require(grownConfig.trainingBytes(batch: batchSize, seq: config.contextLength, threads: threading.threads),
                                 for: "chat fine-tuning with --batch-size \(batchSize)")
        let pool = try ThreadPool(threads: threading.threads)
        var model: GPT
        if initialization == .random {
            model = try GPT(config: grownConfig, seed: seed, pool: pool)
        } else {
            let weights = source.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: weights.path) else { throw CheckpointError.missingFile(weights.path) }
            let file = try SafeTensorsFile(contentsOf: weights)
            try HuggingFaceGPT2.checkWeights(file, match: config)
            model = try GPT(config: config, pool: pool)
            try HuggingFaceGPT2.loadWeights(file, into: model)
            if grownVocabulary > config.vocabSize { model = try model.resizingVocabulary(to: grownVocabulary) }
        }
        let added = chatTemplate.specialTokens.filter { (base as? BytePairTokenizer)?.specialTokens[$0] == nil }
        print("model: \(model.parameterCount) parameters (\(config.layerCount) layers, \(config.embeddingSize) wide, context \(config.contextLength)), "
              + "init \(initialization), template \(chatTemplate.name), tokenizer \(tokens.name)"
              + (added.isEmpty ? "" : "; added \(added.joined(separator: " ")) as ids \(config.vocabSize)...\(grownVocabulary - 1) (new embedding rows = mean of the old)"))
        print("train: " + trainExamples.summary)
        print("test:  " + testExamples.summary)
        guard testExamples.count > 0 else { throw CommandError("no test conversation has an assistant token within the context") }

        if steps == 0 { return try evaluateOnly(model, test: testExamples, encoder: encoder, trainCount: trainExamples.count) }

        var options = ChatTrainingOptions()
        options.steps = steps; options.batchSize = batchSize; options.learningRate = learningRate
        options.minLearningRate = minLearningRate ?? learningRate / 10
        options.warmupSteps = warmupSteps ?? min(100, steps / 10)
        options.gradientClip = gradClip; options.evalEvery = evalEvery; options.seed = seed
        options.optimizer.weightDecay = weightDecay
        let padding = Int32(tokens.endOfTextID ?? 0)
        let trainer = try ChatTrainer(model: model, train: trainExamples, padding: padding, options: options)

        let directory = try runDirectory.open(out)
        let resolved: [String: Any] = ["init_from": source.path, "init": initialization.rawValue, "template": chatTemplate.name,
                                       "train": train, "test": test ?? "(hash hold-out of train)", "steps": steps,
                                       "batch_size": batchSize, "learning_rate": Double(learningRate),
                                       "min_learning_rate": Double(options.minLearningRate), "warmup_steps": options.warmupSteps,
                                       "weight_decay": Double(weightDecay), "grad_clip": Double(gradClip), "seed": seed,
                                       "train_conversations": trainExamples.count, "test_conversations": testExamples.count]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: resolved, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.url.appendingPathComponent("config.json"))
        let run = ChatRun(trainer: trainer, test: testExamples, encoder: encoder, padding: padding)
        run.sampleCount = samples
        let loop = RunLoop(run: run, directory: directory,
                           options: RunLoopOptions(checkpointEvery: checkpointEvery, bestLossKey: "test_loss"),
                           observers: LanguageModelRun.observers(model, directory: directory, title: "gpt finetune chat", logEvery: logEvery))
        let outcome = try loop.start(resume: runDirectory.resume)
        try outcome.report(directory)
        guard case .finished = outcome else { return }
        if output.json {
            let last = try run.lastEvaluation ?? testExamples.evaluate(model, padding: padding, batchSize: batchSize)
            try printJSONLine(["test_loss": last.loss, "test_perplexity": last.perplexity, "assistant_tokens": last.tokens,
                               "steps": steps, "train_conversations": trainExamples.count, "test_conversations": testExamples.count])
        }
    }

    /// `--steps 0`: the starting model's assistant-token loss on the test set and its replies; nothing is written.
    func evaluateOnly(_ model: GPT, test: ChatExamples, encoder: ChatEncoder, trainCount: Int) throws {
        let padding = Int32(encoder.tokenizer.endOfTextID ?? 0)
        var options = ChatTrainingOptions()
        options.steps = 1; options.batchSize = batchSize; options.seed = seed
        let run = ChatRun(trainer: try ChatTrainer(model: model, train: test, padding: padding, options: options), test: test,
                          encoder: encoder, padding: padding)
        run.sampleCount = samples
        let result = try test.evaluate(model, padding: padding, batchSize: batchSize)
        print(String(format: "no fine-tuning: test loss %.4f  perplexity %.2f  (%d assistant tokens)", result.loss, result.perplexity, result.tokens))
        for sample in run.sampleReplies(seed: seed) {
            print("  \(sample.prompt.last?.role.rawValue ?? ""): \(sample.prompt.last?.content ?? "")\n    reference: \(sample.reference)\n    model:     \(sample.reply)")
        }
        if output.json {
            try printJSONLine(["test_loss": result.loss, "test_perplexity": result.perplexity, "assistant_tokens": result.tokens,
                               "steps": 0, "train_conversations": trainCount, "test_conversations": test.count])
        }
    }
}
