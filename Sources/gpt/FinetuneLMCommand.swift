// `gpt finetune lm`: continue language-model training of a checkpoint on a new corpus,
// with the checkpoint's tokenizer, a fresh optimizer and its own learning-rate schedule.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTDistributed
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct FinetuneLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Continue language-model training of a checkpoint on new text.",
        discussion: """
        --data is a UTF-8 text file (encoded with the checkpoint's tokenizer, split 90% / 10%) or a \
        directory made by `gpt prepare` with that same tokenizer. A character-level checkpoint \
        refuses text with characters outside its vocabulary and lists them. The model's shape and \
        tokenizer are kept; the optimizer starts afresh with its own warmup + cosine schedule. \
        --set takes training fields (learning_rate, batch_size, warmup_steps, ..., and the dropout \
        fields), as for gpt train. Output, checkpoints and --resume work as for gpt train.
        Examples:
          gpt finetune lm --checkpoint runs/base --data notes.txt --out runs/notes
          gpt finetune lm --checkpoint runs/base --data data/prepared --out runs/ft \\
              --steps 500 --set learning_rate=1e-4
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "A UTF-8 text file, or a directory made by gpt prepare with the checkpoint's tokenizer.") var data: String
    @Option(help: "Output directory (checkpoint/, best/, metrics.jsonl, loss.svg).") var out: String
    @Option(parsing: .unconditional, help: "Training steps.") var steps = 1000
    @Option(help: "Peak learning rate.") var learningRate: Float = 3e-4
    @Option(parsing: .unconditional, help: "Evaluate, sample and save every N steps.") var evalEvery = 250
    @Option(parsing: .unconditional, help: "Also save a checkpoint every N steps.") var checkpointEvery: Int?
    @Flag(help: "Keep every checkpoint saved (checkpoint-<step>/), not only the latest and the best.") var keepCheckpoints = false
    @Option(name: .customLong("set"), help: "Set one training field, key=value (repeatable).") var settings: [String] = []
    @Option(help: "char, gpt2 or a tokenizer PATH, for a checkpoint that has none (a plain Hugging Face directory).") var tokenizer: String?
    @Option(help: "Seed for data order and dropout.") var seed: UInt64 = 1337
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var runDirectory: RunDirectoryOptions
    @Option(parsing: .unconditional, help: "Write a metrics.jsonl line every N steps.") var logEvery = 1

    func validate() throws {
        guard (1...Int(Int32.max)).contains(steps), (0...Int(Int32.max)).contains(evalEvery), logEvery >= 1 else {
            throw ValidationError("--steps and --log-every must be in 1...\(Int32.max), --eval-every in 0...\(Int32.max)")
        }
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
    }

    func run() throws {
        try DataParallelCommand.run(finetune)
    }

    /// Under mpirun, one of the ranks (see `gpt train`).
    func finetune(world: any Communicator) throws {
        let source = try checkpointSource.directory()
        try CheckpointLocation.refuseOutput(out, holding: source)
        let modelConfig = try HuggingFaceGPT2.loadConfig(source.appendingPathComponent("config.json"))
        let tokens = try TokenizerLoader.load(tokenizer ?? source.path)
        try VocabularyCheck.check(tokens, modelVocabulary: modelConfig.vocabSize, use: .encode)
        let config = try resolveConfig(modelConfig)
        try MemoryBudget.require(config.model.trainingBytes(batch: config.batchSize, seq: config.model.contextLength,
                                                            threads: threading.threads,
                                                            gradientStash: config.orderedAccumulation && config.gradAccumulation > 1),
                                 for: "training this configuration")
        let corpus = try loadData(tokens)

        let pool = try ThreadPool(threads: threading.threads)
        let model = try GPT(config: config.model, pool: pool)
        let weights = source.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else { throw CheckpointError.missingFile(weights.path) }
        try HuggingFaceGPT2.loadWeights(SafeTensorsFile(contentsOf: weights), into: model)
        var options = config.options
        options.shardOptimizerInSharedMemory = DataParallelCommand.splitsOptimizerInSharedMemory
        let trainer = try Trainer(model: model, train: corpus.train, validation: corpus.validation, options: options,
                                  communicator: world)

        let directory = try world.isRoot ? runDirectory.open(out) : nil
        var resolved = config.resolved
        resolved["init_from"] = source.path
        resolved["world_size"] = world.size
        if let directory {
            try AtomicFile.write(JSONSerialization.data(withJSONObject: resolved, options: [.prettyPrinted, .sortedKeys]),
                                 to: directory.url.appendingPathComponent("config.json"))
        }
        if world.isRoot { print("fine-tuning \(source.path): \(model.parameterCount) parameters, tokenizer \(tokens.name); "
              + "\(corpus.train.count + corpus.validation.count) tokens; \(config.steps) steps of \(config.batchSize)×\(config.model.contextLength), "
              + "lr \(config.learningRate)" + (world.size > 1 ? " on \(world.size) ranks (gradients: \(trainer.gradientExchange))" : "")) }
        let sampler = world.isRoot ? LanguageModelRun.sampler(model, tokens, seed: seed) : nil
        let outcome = try LanguageModelRun(trainer: trainer, tokenizer: tokens, sampler: sampler)
            .start(in: directory, resume: runDirectory.resume, title: "gpt finetune lm", logEvery: logEvery, checkpointEvery: checkpointEvery,
                   keepCheckpoints: keepCheckpoints)
        try outcome.report(directory)
    }

    /// Training fields: defaults for continued training, then --set (shape fields refused).
    func resolveConfig(_ modelConfig: GPTConfig) throws -> TrainingConfig {
        var config = TrainingConfig(model: modelConfig)
        config.steps = steps; config.learningRate = learningRate; config.evalEvery = evalEvery; config.seed = seed
        var explicit = Set<String>()
        for setting in settings {
            guard let eq = setting.firstIndex(of: "=") else { throw CommandError("--set takes key=value, got '\(setting)'") }
            let key = String(setting[..<eq])
            guard TrainingConfig.field(key)?.changesShape != true else {
                throw CommandError("--set \(key): the checkpoint fixes the model's shape; only training and dropout fields can change")
            }
            try config.set(key, String(setting[setting.index(after: eq)...]))
            explicit.insert(key)
        }
        // Defaults that follow the rate and length, unless --set gave them.
        if !explicit.contains("min_learning_rate") { config.minLearningRate = config.learningRate / 10 }
        if !explicit.contains("warmup_steps") { config.warmupSteps = min(100, config.steps / 10) }
        if !explicit.contains("lr_decay_steps") { config.decaySteps = nil }
        guard config.minLearningRate <= config.learningRate else {
            throw CommandError("min_learning_rate \(config.minLearningRate) exceeds learning_rate \(config.learningRate)")
        }
        return config
    }

    /// Training and validation tokens from a prepared directory or a text file, in the checkpoint's tokenizer.
    func loadData(_ tokens: any Tokenizer) throws -> TokenizedCorpus {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) else { throw CommandError("--data \(data) does not exist") }
        if !isDirectory.boolValue, let chars = tokens as? CharTokenizer {
            let contents = try InputFile.read(data, what: "--data")
            try checkCharacters(String(decoding: contents, as: UTF8.self), chars)
        }
        return try TokenizedCorpus.load(data, tokenizer: .given(tokens))
    }

    /// Names every character of `text` the character vocabulary lacks (the first 20, with counts).
    func checkCharacters(_ text: String, _ tokenizer: CharTokenizer) throws {
        let known = Set(tokenizer.characters)
        var missing: [Unicode.Scalar: Int] = [:]
        for scalar in text.unicodeScalars where !known.contains(scalar) { missing[scalar, default: 0] += 1 }
        guard !missing.isEmpty else { return }
        let listed = missing.sorted { $0.value > $1.value }.prefix(20).map { scalar, count in
            String(format: "U+%04X ", scalar.value) + (scalar.properties.generalCategory == .control ? "" : "'\(scalar)' ") + "×\(count)"
        }
        throw CommandError("--data \(data) has \(missing.count) character(s) the checkpoint's character vocabulary cannot encode: "
                           + listed.joined(separator: ", ") + (missing.count > 20 ? ", ..." : ""))
    }
}
