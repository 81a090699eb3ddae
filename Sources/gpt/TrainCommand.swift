// `gpt train`: pre-train a GPT from text. With no data it trains the `demo` preset on
// a corpus generated in code, so a first run needs nothing but the binary.
import ArgumentParser
import Foundation
import GPTCore
import GPTData
import GPTDistributed
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining
import TOMLKit

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a GPT on text, printing progress and samples.",
        discussion: """
        Presets (--preset); --config FILE.toml|FILE.json and --set key=value change their fields:
          demo                  4 layers, 4 heads, 128 dims, context 64, batch 12,
                                1500 steps, on generated simple English sentences
                                (the default; no data needed)
          shakespeare-char-cpu  nanoGPT's CPU configuration: 4 layers, 4 heads,
                                128 dims, context 64, batch 12, lr 1e-3, 2000 steps
          shakespeare-char      nanoGPT's: 6 layers, 6 heads, 384 dims, context 256,
                                dropout 0.2, batch 64, lr 1e-3, 5000 steps
          gpt2-124m             GPT-2 small: 12 layers, 12 heads, 768 dims,
                                context 1024
          translate-small       model_type transformer (encoder–decoder), 6+6 layers
                                of 256, 4 heads, d_ff 1024, dropout 0.1, label
                                smoothing 0.1, 4096-token batches, inverse_sqrt
                                (warmup 1000, lr_scale 0.5), 4000 steps; needs --pairs
        Every preset but demo needs --data: a UTF-8 text file (tokenized with --tokenizer; the last \
        10% of its bytes is validation, as gpt prepare splits) or a directory made by `gpt prepare` \
        (its splits and tokenizer). A directory that holds a run is refused unless --resume or \
        --overwrite is given; SIGINT, SIGTERM and SIGHUP save the run and stop it.
        Fields of --set and config files:
        \(fieldList)
        At each evaluation, at the end and on Ctrl-C, a checkpoint is saved atomically in \
        --out/checkpoint (a Hugging Face GPT-2 directory plus optimizer.safetensors, state.json and \
        the tokenizer), and the one with the lowest validation loss in --out/best; --resume \
        continues from --out/checkpoint bit for bit. Each step is logged to --out/metrics.jsonl, \
        and --out/loss.svg (train and validation loss against step) is redrawn at each evaluation.
        Examples:
          gpt train
          gpt train --preset shakespeare-char-cpu --data tinyshakespeare.txt
          gpt train --set n_layer=2 --set learning_rate=3e-3 --steps 500
          gpt train --out runs/demo --resume
          gpt train --preset translate-small --pairs train.jsonl \\
              --tokenizer joint.json
          mpirun -np 2 gpt train --threads 1   # 2 ranks (a build with --traits MPI)
        Under mpirun (a build with --traits MPI) the ranks train one model: each step's \
        grad_accumulation × ranks micro-batches are shared out, gradients are summed over the ranks, \
        and rank 0 alone prints and writes --out.
        """)

    /// The configuration table as help lines: key, then its meaning wrapped to 80 columns.
    static var fieldList: String {
        TrainingConfig.fields.map { field in
            var lines: [String] = [], line = "  " + field.key.padding(toLength: 22, withPad: " ", startingAt: 0)
            for word in field.meaning.split(separator: " ") {
                if line.count + word.count + 1 > 78 { lines.append(line); line = String(repeating: " ", count: 24) }
                line += (line.hasSuffix(" ") ? "" : " ") + word
            }
            return (lines + [line]).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    @Option(help: "A preset: \(TrainingConfig.presets.joined(separator: ", ")).") var preset: String?
    @Option(help: "A config file of fields: TOML (.toml) or JSON.") var config: String?
    @Option(name: .customLong("set"), help: "Set one config field, key=value (repeatable).") var settings: [String] = []
    @Option(help: "A UTF-8 text file (90% train, 10% validation), or a directory made by gpt prepare.") var data: String?
    @Option(help: ArgumentHelp("Translation pairs, JSON Lines of {\"source\", \"target\"}: trains an encoder–decoder "
                               + "(model_type transformer; every 20th pair is validation unless --val-pairs is given).", valueName: "file"))
    var pairs: String?
    @Option(help: ArgumentHelp("Validation pairs for --pairs (JSON Lines).", valueName: "file")) var valPairs: String?
    @Option(help: ArgumentHelp("With --pairs: write the initial model, the hyper-parameters and every step's batches and "
                               + "learning rate to DIR for a peer trainer (Benchmarks/seq2seq_train_torch.py), then exit "
                               + "without training.", valueName: "dir"))
    var exportBatches: String?
    @Option(help: "char (the text's own characters), gpt2, or a tokenizer PATH.") var tokenizer = "char"
    @Option(help: "Output directory (default: runs/<preset>).") var out: String?
    @Option(parsing: .unconditional, help: "Training steps (the steps field).") var steps: Int?
    @Option(parsing: .unconditional, help: "Evaluate, sample and save every N steps (the eval_every field).") var evalEvery: Int?
    @Option(parsing: .unconditional, help: "Also save a checkpoint every N steps (evaluations always save one).") var checkpointEvery: Int?
    @Flag(help: "Keep every checkpoint saved (checkpoint-<step>/), not only the latest and the best.") var keepCheckpoints = false
    @Option(help: "Seed for initialisation, data order, dropout and sampling (the seed field).") var seed: UInt64?
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var runDirectory: RunDirectoryOptions
    @Flag(help: "Skip a step whose loss is not finite instead of stopping.") var skipNonfinite = false
    @Option(parsing: .unconditional, help: "Write a metrics.jsonl line every N steps (evaluation steps always).") var logEvery = 1

    func validate() throws {
        guard logEvery >= 1 else { throw ValidationError("--log-every must be at least 1, got \(logEvery)") }
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        let name = presetName
        guard TrainingConfig.presets.contains(name) else { throw ValidationError("\(TrainingConfigError.unknownPreset(name))") }
        if pairs != nil && data != nil { throw ValidationError("give --data (text, a GPT) or --pairs (pairs, an encoder–decoder), not both") }
        if valPairs != nil && pairs == nil { throw ValidationError("--val-pairs goes with --pairs") }
        if exportBatches != nil && pairs == nil { throw ValidationError("--export-batches goes with --pairs") }
        if name == "translate-small" && pairs == nil { throw ValidationError("preset \(name) needs --pairs FILE.jsonl") }
        if name != "demo" && data == nil && pairs == nil { throw ValidationError("preset \(name) needs --data FILE") }
    }

    var presetName: String { preset ?? (pairs != nil ? "translate-small" : data == nil ? "demo" : "shakespeare-char-cpu") }

    /// The preset, then the config file, then --set, then the dedicated flags.
    func resolveConfig() throws -> TrainingConfig {
        var resolved = try TrainingConfig.preset(presetName)
        if let config {
            let contents = try InputFile.read(config, what: "--config", limit: 16 << 20)
            if config.hasSuffix(".toml") {
                // TOML becomes the JSON object it denotes, then the one path for config files applies it.
                let table: TOMLTable
                do { table = try TOMLTable(string: String(decoding: contents, as: UTF8.self)) } catch {
                    throw CommandError("cannot read --config \(config): not valid TOML (\(error))")
                }
                try resolved.apply(json: Data(table.convert(to: .json).utf8), source: config)
            } else {
                try resolved.apply(json: contents, source: config)
            }
        }
        for setting in settings {
            guard let eq = setting.firstIndex(of: "=") else { throw CommandError("--set takes key=value, got '\(setting)'") }
            try resolved.set(String(setting[..<eq]), String(setting[setting.index(after: eq)...]))
        }
        if let steps { try resolved.set("steps", "\(steps)") }
        if let evalEvery { try resolved.set("eval_every", "\(evalEvery)") }
        if let seed { resolved.seed = seed }
        if let (key, reason) = resolved.inapplicable(try explicitKeys()) {
            throw CommandError("\(key) \(reason); leave it out")
        }
        return resolved
    }

    /// The fields the user set (config file, then --set), in that order.
    func explicitKeys() throws -> [String] {
        var keys: [String] = []
        if let config {
            let contents = try InputFile.read(config, what: "--config", limit: 16 << 20)
            let json = config.hasSuffix(".toml")
                ? Data((try? TOMLTable(string: String(decoding: contents, as: UTF8.self)))?.convert(to: .json).utf8 ?? "{}".utf8)
                : contents
            keys += try ConfigValue.object(json: json, source: config).map(\.key)
        }
        keys += settings.compactMap { setting in setting.firstIndex(of: "=").map { String(setting[..<$0]) } }
        return keys
    }

    func run() throws {
        try DataParallelCommand.run(train)
    }

    func train(world: any Communicator) throws {
        let name = presetName
        func say(_ line: String) { if world.isRoot { print(line) } }
        var config = try resolveConfig()
        if config.modelType == .transformer || pairs != nil {
            guard pairs != nil else { throw CommandError("model_type transformer trains on translation pairs: give --pairs FILE.jsonl") }
            guard config.modelType == .transformer else {
                throw CommandError("--pairs trains an encoder–decoder: set model_type=transformer (or use --preset translate-small)")
            }
            guard world.size == 1 else { throw CommandError("encoder–decoder training runs in one process (not under mpirun)") }
            return try trainPairs(config: config)
        }
        let corpus = try loadData(seed: config.seed)
        config.model.vocabSize = corpus.tokenizer.vocabularySize
        try config.model.validate()

        // Refused before anything is written: the product of batch, context and width, not each alone, is the problem.
        try MemoryBudget.require(config.model.trainingBytes(batch: config.batchSize, seq: config.model.contextLength,
                                                            threads: threading.threads,
                                                            gradientStash: config.orderedAccumulation && config.gradAccumulation > 1),
                                 for: "training this configuration")
        // Rank 0 alone holds the run directory; the others train and write nothing.
        let directory = try world.isRoot ? runDirectory.open(out ?? "runs/\(name)") : nil
        var resolved = config.resolved
        resolved["world_size"] = world.size
        if let directory {
            let resolvedJSON = try JSONSerialization.data(withJSONObject: resolved, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(resolvedJSON, to: directory.url.appendingPathComponent("config.json"))
        }
        say("config (\(name)): " + resolved.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))

        let pool = try ThreadPool(threads: threading.threads)
        let model = try GPT(config: config.model, seed: config.seed, pool: pool)
        var options = config.options
        options.skipNonFinite = skipNonfinite
        options.shardOptimizerInSharedMemory = DataParallelCommand.splitsOptimizerInSharedMemory
        let trainer = try Trainer(model: model, train: corpus.train, validation: corpus.validation, options: options,
                                  communicator: world)
        say("\(corpus.train.count + corpus.validation.count) tokens (\(corpus.tokenizer.name)), vocabulary \(corpus.tokenizer.vocabularySize), "
              + "\(model.parameterCount) parameters, \(options.steps) steps of "
              + "\(options.gradientAccumulation)×\(options.batchSize)×\(config.model.contextLength) tokens, \(threading.threads) threads"
              + (world.size > 1 ? " on each of \(world.size) ranks (gradients: \(trainer.gradientExchange))" : ""))
        let sampler = world.isRoot ? LanguageModelRun.sampler(model, corpus.tokenizer, seed: config.seed) : nil
        let outcome = try LanguageModelRun(trainer: trainer, tokenizer: corpus.tokenizer, sampler: sampler)
            .start(in: directory, resume: runDirectory.resume, title: "gpt train: \(name)", logEvery: logEvery, checkpointEvery: checkpointEvery,
                   keepCheckpoints: keepCheckpoints)
        try outcome.report(directory)
    }

    /// An encoder–decoder on --pairs: the pairs tokenized with one joint tokenizer (char: the
    /// pairs' own characters), BOS/EOS/padding as Seq2SeqTokens decides, the one RunLoop.
    func trainPairs(config: TrainingConfig) throws {
        let name = presetName
        let all = try TranslationPairs.read(URL(fileURLWithPath: pairs!))
        let tokens: any Tokenizer
        if tokenizer == "char" {
            var text = ""
            for pair in all { text += pair.source; text += pair.target }
            tokens = CharTokenizer(characters: text.unicodeScalars)
        } else {
            tokens = try TokenizerLoader.load(tokenizer)
        }
        var train: [TranslationPair], validation: [TranslationPair]
        if let valPairs {
            train = all; validation = try TranslationPairs.read(URL(fileURLWithPath: valPairs))
        } else {
            // Every 20th pair (by line order) is held out; a file of fewer than 20 pairs keeps its last one.
            train = all.enumerated().filter { $0.offset % 20 != 19 }.map(\.element)
            validation = all.enumerated().filter { $0.offset % 20 == 19 }.map(\.element)
            if validation.isEmpty, let last = train.popLast() { validation = [last] }
            guard !train.isEmpty else { throw CommandError("--pairs \(pairs!) needs at least 2 pairs (one is held out for validation)") }
        }
        let special = Seq2SeqTokens(tokenizer: tokens)
        let modelConfig = special.modelConfig(config)
        try modelConfig.validate()
        let trainTokens = try TranslationPairs.tokenize(train, with: tokens)
        let validationTokens = try TranslationPairs.tokenize(validation, with: tokens)
        let pool = try ThreadPool(threads: threading.threads)
        let model = try Seq2SeqTransformer(config: modelConfig, seed: config.seed, pool: pool)
        let trainer = try Seq2SeqTrainer(model: model, train: trainTokens, validation: validationTokens, config: config)
        if let exportBatches {
            let url = URL(fileURLWithPath: exportBatches)
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("batches.bin").path) {
                throw CommandError("--export-batches \(exportBatches) already holds batches.bin; give a new directory")
            }
            try Seq2SeqPeerExport.write(trainer, tokenizer: tokens, steps: config.steps, to: url)
            print("wrote the initial model, training.json and the batches of \(config.steps) steps to \(exportBatches)")
            return
        }
        let directory = try runDirectory.open(out ?? "runs/\(name)")
        var resolved = config.resolved
        resolved["vocab_size"] = modelConfig.vocabSize
        let resolvedJSON = try JSONSerialization.data(withJSONObject: resolved, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(resolvedJSON, to: directory.url.appendingPathComponent("config.json"))
        print("config (\(name)): " + resolved.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        print("\(trainTokens.count) training and \(validationTokens.count) validation pairs (\(tokens.name)), vocabulary "
              + "\(modelConfig.vocabSize) (BOS = EOS = padding = \(special.special)), \(model.layout.count) parameters, "
              + "\(config.steps) steps of ≤ \(config.gradAccumulation)×\(config.maxTokens) tokens, \(threading.threads) threads")
        if trainer.skipped != (0, 0) {
            print("left out \(trainer.skipped.train) training and \(trainer.skipped.validation) validation pairs longer than "
                  + "n_positions \(modelConfig.maxPositions) tokens on a side (EOS counted)")
        }
        let outcome = try Seq2SeqRun(trainer: trainer, tokenizer: tokens)
            .start(in: directory, resume: runDirectory.resume, title: "gpt train: \(name)", logEvery: logEvery,
                   checkpointEvery: checkpointEvery, keepCheckpoints: keepCheckpoints)
        try outcome.report(directory)
    }

    /// The tokenizer and the training and validation tokens: from a directory made by `gpt prepare`,
    /// a text file, or the demo corpus, split by TokenizedCorpus's one rule.
    func loadData(seed: UInt64) throws -> TokenizedCorpus {
        let choice: DataPreparer.TokenizerChoice = tokenizer == "char" ? .characters : .given(try TokenizerLoader.load(tokenizer))
        guard let data else { return try TokenizedCorpus.text(DemoCorpus.text(seed: seed), tokenizer: choice) }
        return try TokenizedCorpus.load(data, tokenizer: tokenizer == "char" ? .characters : choice)
    }
}
