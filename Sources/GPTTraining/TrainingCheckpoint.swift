// A training checkpoint: everything a run needs to continue exactly where it stopped.
//
//   config.json            the model config (Hugging Face GPT2Config keys, plus ours)
//   model.safetensors      the weights, in Hugging Face's names and layout
//   optimizer.safetensors  AdamW's moments: exp_avg.<name>, exp_avg_sq.<name>
//   state.json             steps done, optimizer step, data generator, dropout counters
//   gpt-tokenizer.json     the tokenizer
//
// Saving writes a complete new directory `checkpoint-<steps>` (every file fsynced),
// then points the `checkpoint` symlink (or `best`, for the lowest validation loss) at it
// with one rename, then removes directories no link names; a kill at any instant leaves
// each link naming a complete checkpoint.
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

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", optimizerStep = "optimizer_step", dataGenerator = "data_generator"
        case dropoutSeed = "dropout_seed", passCount = "pass_count", dataFingerprint = "data_fingerprint"
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
    public static let linkName = "checkpoint"

    /// The points of a save at which a crash is simulated in tests.
    public enum SaveStage: Sendable { case filesWritten, directoryInPlace, linkSwitched }

    /// Saves `trainer` and `tokenizer` under `run` and points `run/checkpoint` at them.
    @discardableResult
    public static func save(_ trainer: Trainer, tokenizer: any Tokenizer, in run: URL,
                            after stage: (SaveStage) throws -> Void = { _ in }) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: run, withIntermediateDirectories: true)
        var name = "checkpoint-\(trainer.stepsDone)"
        // Never overwrite the directory the link may point at: a second save of the same step gets its own.
        if fm.fileExists(atPath: run.appendingPathComponent(name).path) { name += "-\(UInt64(Date().timeIntervalSince1970 * 1e6))" }
        let staging = run.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        try HuggingFaceGPT2.save(trainer.model, to: staging)
        var moments = SafeTensorsWriter()
        moments.metadata = ["step": "\(trainer.optimizer.step)"]
        trainer.optimizer.addMoments(of: trainer.model.layout.tensors, to: &moments)
        try moments.write(to: staging.appendingPathComponent("optimizer.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(trainer.state()), to: staging.appendingPathComponent("state.json"))
        try TokenizerFile.write(tokenizer, to: staging.appendingPathComponent(TokenizerFile.defaultFileName))
        try stage(.filesWritten)

        let final = run.appendingPathComponent(name)
        try fm.moveItem(at: staging, to: final)
        try stage(.directoryInPlace)
        try point(linkName, at: final, in: run, after: stage)
        return final
    }

    /// Points `run/<link>` (e.g. `best`) at the saved checkpoint `directory` with one atomic rename,
    /// then removes the checkpoint directories that no link names any more.
    public static func point(_ link: String, at directory: URL, in run: URL, after stage: (SaveStage) throws -> Void = { _ in }) throws {
        let fm = FileManager.default
        let temporary = run.appendingPathComponent(".\(link).link-\(getpid())")
        try? fm.removeItem(at: temporary)
        try fm.createSymbolicLink(atPath: temporary.path, withDestinationPath: directory.lastPathComponent)
        guard rename(temporary.path, run.appendingPathComponent(link).path) == 0 else {
            throw AtomicFileError.failed(path: run.appendingPathComponent(link).path, step: "rename", errno: errno)
        }
        let dir = open(run.path, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
        try stage(.linkSwitched)
        // Remove what no link names: older checkpoints, and staging left by a crashed save.
        let live = Set([linkName, "best"].compactMap { try? fm.destinationOfSymbolicLink(atPath: run.appendingPathComponent($0).path) })
        for old in try fm.contentsOfDirectory(atPath: run.path)
        where (old.hasPrefix("checkpoint-") || old.hasPrefix(".checkpoint-")) && !live.contains(old) {
            try? fm.removeItem(at: run.appendingPathComponent(old))
        }
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
        try HuggingFaceGPT2.loadWeights(SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors")),
                                        into: trainer.model)
        try trainer.optimizer.loadMoments(of: trainer.model.layout.tensors,
                                          from: SafeTensorsFile(contentsOf: directory.appendingPathComponent("optimizer.safetensors")))
        trainer.restore(state)
    }

    static func compare(_ saved: GPTConfig, _ current: GPTConfig) throws {
        let fields: [(String, String, String)] = [
            ("vocab_size", "\(saved.vocabSize)", "\(current.vocabSize)"),
            ("n_positions", "\(saved.contextLength)", "\(current.contextLength)"),
            ("n_embd", "\(saved.embeddingSize)", "\(current.embeddingSize)"),
            ("n_layer", "\(saved.layerCount)", "\(current.layerCount)"),
            ("n_head", "\(saved.headCount)", "\(current.headCount)"),
            ("bias", "\(saved.bias)", "\(current.bias)"),
            ("activation_function", "\(saved.activation)", "\(current.activation)"),
            ("position_embedding", "\(saved.positions)", "\(current.positions)"),
        ]
        if let (field, a, b) = fields.first(where: { $0.1 != $0.2 }) { throw CheckpointMismatch.config(field: field, checkpoint: a, run: b) }
    }
}

extension Trainer {
    /// The state a checkpoint records.
    public func state() -> TrainingState {
        TrainingState(stepsDone: stepsDone, optimizerStep: optimizer.step, dataGenerator: train.generator,
                      dropoutSeed: model.dropoutSeed, passCount: model.passCount, dataFingerprint: dataFingerprint)
    }

    func restore(_ state: TrainingState) {
        stepsDone = state.stepsDone
        optimizer.step = state.optimizerStep
        train.generator = state.dataGenerator
        model.dropoutSeed = state.dropoutSeed
        model.passCount = state.passCount
    }

    /// FNV-1a over the training tokens.
    var dataFingerprint: UInt64 {
        var hash = FNV1a()
        for t in train.tokens { hash.mix(UInt64(UInt32(bitPattern: t))) }
        return hash.value
    }
}
