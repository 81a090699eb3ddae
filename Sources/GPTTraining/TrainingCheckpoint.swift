// A training checkpoint: everything a run needs to continue exactly where it stopped.
//
//   config.json            the model config (Hugging Face GPT2Config keys, plus ours)
//   model.safetensors      the weights, in Hugging Face's names and layout
//   optimizer.safetensors  AdamW's moments: exp_avg.<name>, exp_avg_sq.<name>
//   state.json             steps done, optimizer step, data generator, dropout counters
//   gpt-tokenizer.json     the tokenizer
//
// RunDirectory writes it as `checkpoint-<steps>` and switches the `checkpoint` link to it
// (see there); a kill at any instant leaves each link naming a complete checkpoint.
import Foundation
import GPTCore
import GPTData
import GPTIO
import GPTKernels
import GPTTokenizer

/// What, besides weights and moments, a resumed run must restore.
public struct TrainingState: Codable, Equatable, Sendable {
    public var stepsDone: Int
    public var optimizerStep: Int
    public var dataGenerator: Xoshiro256StarStar
    public var dropoutSeed: UInt64
    public var passCount: UInt64
    /// FNV-1a of the training tokens, so a resume on other data is refused.
    public var dataFingerprint: UInt64
    /// The data-parallel ranks and each one's micro-batches per step (absent before MPI: 1 rank).
    public var worldSize: Int? = nil
    public var gradAccumulation: Int? = nil

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", optimizerStep = "optimizer_step", dataGenerator = "data_generator"
        case dropoutSeed = "dropout_seed", passCount = "pass_count", dataFingerprint = "data_fingerprint"
        case worldSize = "world_size", gradAccumulation = "grad_accumulation"
    }
}

public enum CheckpointMismatch: Error, CustomStringConvertible, Equatable {
    case config(field: String, checkpoint: String, run: String)
    case data
    case tokenizer(checkpoint: String, run: String)

    public var description: String {
        switch self {
        case let .config(field, checkpoint, run):
            return "cannot resume: the checkpoint's \(field) is \(checkpoint) but this run's is \(run)"
        case .data: return "cannot resume: the training data differs from the checkpoint's (its fingerprint does not match)"
        case let .tokenizer(checkpoint, run):
            return "cannot resume: the checkpoint's tokenizer is \(checkpoint) but this run's is \(run)"
        }
    }
}

public enum TrainingCheckpoint {
    public static let linkName = RunDirectory.latestLink

    /// The points of a save at which a crash is simulated in tests.
    public typealias SaveStage = RunDirectory.SaveStage

    /// Saves `trainer` and `tokenizer` under the run directory `run` and points `run/checkpoint` at them.
    @discardableResult
    public static func save(_ trainer: Trainer, tokenizer: any Tokenizer, in run: URL,
                            after stage: (SaveStage) throws -> Void = { _ in }) throws -> URL {
        try RunDirectory(run, mode: .asIs).saveCheckpoint(name: "\(trainer.stepsDone)", after: stage) {
            try write(trainer, tokenizer: tokenizer, to: $0)
        }
    }

    /// Writes the checkpoint's files into `directory`.
    public static func write(_ trainer: Trainer, tokenizer: any Tokenizer, to directory: URL) throws {
        try write(model: trainer.model, optimizer: trainer.optimizer, state: trainer.state(), tokenizer: tokenizer, to: directory)
    }

    /// The files of any training checkpoint: the model (with `config`, else the model's own
    /// config.json), the optimizer's moments, `state` as state.json, and the tokenizer.
    static func write(model: GPT, optimizer: AdamW, state: some Encodable, tokenizer: any Tokenizer, config: Data? = nil,
                      to directory: URL) throws {
        try HuggingFaceGPT2.save(model, to: directory, config: config)
        var moments = SafeTensorsWriter()
        moments.metadata = ["step": "\(optimizer.step)"]
        optimizer.addMoments(of: model.layout.tensors, to: &moments)
        try moments.write(to: directory.appendingPathComponent("optimizer.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(state), to: directory.appendingPathComponent("state.json"))
        try TokenizerFile.write(tokenizer, to: directory.appendingPathComponent(TokenizerFile.defaultFileName))
    }

    /// Restores weights, moments and state from `directory` into `trainer`, after checking that
    /// the model shape, tokenizer and data match.
    public static func restore(_ trainer: Trainer, tokenizer: any Tokenizer, from directory: URL) throws {
        let config = try HuggingFaceGPT2.loadConfig(directory.appendingPathComponent("config.json"))
        try compare(config, trainer.model.config)
        let saved = try TokenizerLoader.load(directory.path)
        guard saved.name == tokenizer.name, saved.vocabularySize == tokenizer.vocabularySize else {
            throw CheckpointMismatch.tokenizer(checkpoint: "\(saved.name) (\(saved.vocabularySize) ids)",
                                               run: "\(tokenizer.name) (\(tokenizer.vocabularySize) ids)")
        }
        let stateURL = directory.appendingPathComponent("state.json")
        guard let stateData = FileManager.default.contents(atPath: stateURL.path) else { throw CheckpointError.missingFile(stateURL.path) }
        let state = try JSONDecoder().decode(TrainingState.self, from: stateData)
        guard state.dataFingerprint == trainer.dataFingerprint else { throw CheckpointMismatch.data }
        // Every rank draws every window of a step, so other ranks with the same micro-batches per
        // step continue on the same windows; other totals would change what a step sees.
        let savedRanks = state.worldSize ?? 1, ranks = trainer.communicator.size
        if savedRanks != ranks {
            let savedAccumulation = state.gradAccumulation ?? trainer.options.gradientAccumulation
            let accumulation = trainer.options.gradientAccumulation
            guard savedRanks * savedAccumulation == ranks * accumulation else {
                throw DataParallelError.worldSizeChanged(checkpointRanks: savedRanks, checkpointAccumulation: savedAccumulation,
                                                         ranks: ranks, accumulation: accumulation)
            }
        }
        try HuggingFaceGPT2.loadWeights(SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors")),
                                        into: trainer.model)
        try trainer.optimizer.loadMoments(of: trainer.model.layout.tensors,
                                          from: SafeTensorsFile(contentsOf: directory.appendingPathComponent("optimizer.safetensors")))
        trainer.restore(state)
    }

    /// Refuses a checkpoint whose model shape (the table's shape fields and the vocabulary) is not the run's.
    static func compare(_ saved: GPTConfig, _ current: GPTConfig) throws {
        let a = TrainingConfig(model: saved), b = TrainingConfig(model: current)
        if saved.vocabSize != current.vocabSize {
            throw CheckpointMismatch.config(field: "vocab_size", checkpoint: "\(saved.vocabSize)", run: "\(current.vocabSize)")
        }
        for field in TrainingConfig.fields where field.changesShape {
            let old = field.value(in: a).map { "\($0)" } ?? "-", new = field.value(in: b).map { "\($0)" } ?? "-"
            if old != new { throw CheckpointMismatch.config(field: field.key, checkpoint: old, run: new) }
        }
    }
}

extension Trainer {
    /// The state a checkpoint records.
    public func state() -> TrainingState {
        TrainingState(stepsDone: stepsDone, optimizerStep: optimizer.step, dataGenerator: train.generator,
                      dropoutSeed: model.dropoutSeed, passCount: model.passCount, dataFingerprint: dataFingerprint,
                      worldSize: communicator.size, gradAccumulation: options.gradientAccumulation)
    }

    func restore(_ state: TrainingState) {
        stepsDone = state.stepsDone
        optimizer.step = state.optimizerStep
        train.generator = state.dataGenerator
        model.dropoutSeed = state.dropoutSeed
        model.passCount = state.passCount
    }

    /// The corpus size up to which the fingerprint reads every training id. Up to it, the fingerprint
    /// is FNV-1a over the ids, as checkpoints have always recorded it (a run that held its corpus in
    /// memory stayed far below it), so their resumes still match. Beyond it, reading every id would
    /// cost a pass over gigabytes at each start; the fingerprint then covers the count, each shard's
    /// count and `fingerprintSamples` ids spread evenly over the sequence.
    public static let fullFingerprintLimit = 1 << 28
    static let fingerprintSamples = 4096

    /// FNV-1a over the training tokens (see `fullFingerprintLimit`), reading them in chunks whose
    /// mapped pages are released as it goes.
    static func fingerprint(_ tokens: TokenShards) -> UInt64 {
        var hash = FNV1a()
        if tokens.count <= fullFingerprintLimit {
            tokens.forEachChunk(0..<tokens.count) { for t in $0 { hash.mix(UInt64(UInt32(bitPattern: t))) } }
            return hash.value
        }
        hash.mix(UInt64(tokens.count))
        for count in tokens.pieceCounts { hash.mix(UInt64(count)) }
        var id: Int32 = 0
        for i in 0..<fingerprintSamples {
            let index = Int((Double(i) + 0.5) / Double(fingerprintSamples) * Double(tokens.count))
            tokens.copy(index..<(index + 1), to: &id)
            // Each read maps up to 64 KiB around it: released at once, or 4,096 samples would peak at 256 MB.
            tokens.release(index..<(index + 1))
            hash.mix(UInt64(UInt32(bitPattern: id)))
        }
        return hash.value
    }
}
