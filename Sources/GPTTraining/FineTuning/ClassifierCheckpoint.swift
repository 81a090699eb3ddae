// A fine-tuned classifier on disk: a Hugging Face GPT-2 directory whose model.safetensors
// also holds the head (`score.weight` [K, C] as GPT2ForSequenceClassification names it,
// and our `score.bias` [K]), whose config.json also carries `id2label` / `label2id`,
// plus the tokenizer and classifier.json (labels and how inputs are cut). Transformers'
// GPT2ForSequenceClassification would load the weights but not predict the same: its
// `score` has no bias and it reads the last non-pad token, not our appended end token.
//
//   config.json  model.safetensors  gpt-tokenizer.json  classifier.json
//   optimizer.safetensors  state.json      (while training: what --resume continues from)
//
// RunDirectory writes it and switches the `checkpoint` link to it, so a kill at any moment
// leaves the last good one intact.
import Foundation
import GPTCore
import GPTData
import GPTIO
import GPTKernels
import GPTTokenizer

/// What, besides weights, a classifier needs to read its inputs and name its outputs.
public struct ClassifierSettings: Codable, Equatable, Sendable {
    public var labels: [String]
    public var maxLength: Int
    public var truncation: Truncation
    /// Whether each input ends with the end-of-text token.
    public var endToken: Bool

    public init(labels: [String], maxLength: Int, truncation: Truncation, endToken: Bool = true) {
        self.labels = labels; self.maxLength = maxLength; self.truncation = truncation; self.endToken = endToken
    }

    enum CodingKeys: String, CodingKey {
        case labels, maxLength = "max_length", truncation, endToken = "end_token"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labels = try c.decode([String].self, forKey: .labels)
        maxLength = try c.decode(Int.self, forKey: .maxLength)
        truncation = try c.decode(Truncation.self, forKey: .truncation)
        endToken = try c.decodeIfPresent(Bool.self, forKey: .endToken) ?? true
    }

    /// How inputs are encoded for this classifier.
    public func encoder(_ tokenizer: any Tokenizer) throws -> ClassificationEncoder {
        try ClassificationEncoder(tokenizer: tokenizer, maxLength: maxLength, truncation: truncation, appendsEndToken: endToken)
    }
}

public enum ClassifierCheckpointError: Error, CustomStringConvertible, Equatable {
    case noHead(path: String)
    case invalidSettings(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noHead(path):
            return "\(path) holds no classification head (no classifier.json); "
                + "make one with `gpt finetune classify --checkpoint <pre-trained> --train ... --test ... --out DIR`"
        case let .invalidSettings(path, reason): return "\(path): \(reason)"
        }
    }
}

public enum ClassifierCheckpoint {
    public static let settingsFileName = "classifier.json"

    public static let stateFileName = "state.json"
    public static let optimizerFileName = "optimizer.safetensors"

    /// Writes `classifier` under the run directory `run` as `checkpoint-<name>` and points
    /// `run/checkpoint` at it; with `trainer`, also the optimizer moments and training state.
    @discardableResult
    public static func save(_ classifier: SequenceClassifier, settings: ClassifierSettings, tokenizer: any Tokenizer,
                            in run: URL, name: String, trainer: ClassifierTrainer? = nil) throws -> URL {
        try RunDirectory(run, mode: .asIs).saveCheckpoint(name: name) {
            try write(classifier, settings: settings, tokenizer: tokenizer, to: $0, trainer: trainer)
        }
    }

    /// Writes the classifier's files into `directory`; with `trainer`, also what `restore` takes up.
    public static func write(_ classifier: SequenceClassifier, settings: ClassifierSettings, tokenizer: any Tokenizer,
                             to directory: URL, trainer: ClassifierTrainer? = nil) throws {
        try HuggingFaceGPT2.save(classifier.model, to: directory, config: configJSON(classifier.model.config, labels: settings.labels))
        try TokenizerFile.write(tokenizer, to: directory.appendingPathComponent(TokenizerFile.defaultFileName))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(settings), to: directory.appendingPathComponent(settingsFileName))
        if let trainer {
            var moments = SafeTensorsWriter()
            trainer.addMoments(to: &moments)
            try moments.write(to: directory.appendingPathComponent(optimizerFileName))
            try AtomicFile.write(encoder.encode(trainer.state()), to: directory.appendingPathComponent(stateFileName))
        }
    }

    /// The model config plus the label names under Hugging Face's keys (`id2label`, `label2id`).
    static func configJSON(_ config: GPTConfig, labels: [String]) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any] else {
            throw ClassifierCheckpointError.invalidSettings(path: "config.json", reason: "the model config is not a JSON object")
        }
        object["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
        object["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The classifier.json in `directory`; its absence means the directory holds no head.
    static func readSettings(_ directory: URL) throws -> ClassifierSettings {
        let settingsURL = directory.appendingPathComponent(settingsFileName)
        guard let data = FileManager.default.contents(atPath: settingsURL.path) else {
            throw ClassifierCheckpointError.noHead(path: directory.path)
        }
        do { return try JSONDecoder().decode(ClassifierSettings.self, from: data) } catch {
            throw ClassifierCheckpointError.invalidSettings(path: settingsURL.path, reason: "not a valid classifier.json (\(error))")
        }
    }

    /// Loads a classifier saved by `save` (or a run directory whose `checkpoint` link names one).
    public static func load(directory: URL, pool: ThreadPool) throws -> (SequenceClassifier, ClassifierSettings, any Tokenizer) {
        let settingsURL = directory.appendingPathComponent(settingsFileName)
        let settings = try readSettings(directory)
        guard settings.labels.count >= 2, Set(settings.labels).count == settings.labels.count else {
            throw ClassifierCheckpointError.invalidSettings(path: settingsURL.path, reason: "needs at least two distinct labels")
        }
        let config = try HuggingFaceGPT2.loadConfig(directory.appendingPathComponent("config.json"))
        guard settings.maxLength >= 2 && settings.maxLength <= config.contextLength else {
            throw ClassifierCheckpointError.invalidSettings(
                path: settingsURL.path, reason: "max_length \(settings.maxLength) is outside 2...\(config.contextLength)")
        }
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        // Shapes, the head's included, are checked against the header before anything is allocated,
        // so a hostile label list cannot make the head huge.
        try HuggingFaceGPT2.checkWeights(file, match: config, classCount: settings.labels.count)
        let model = try GPT(config: config, classCount: settings.labels.count, pool: pool)
        try HuggingFaceGPT2.loadWeights(file, into: model)
        let tokenizer = try TokenizerLoader.load(directory.path)
        try VocabularyCheck.check(tokenizer, modelVocabulary: model.config.vocabSize, use: .encode)
        return (try SequenceClassifier(model: model), settings, tokenizer)
    }

    /// Restores weights, head, moments and state saved with a trainer into `trainer`, after checking
    /// that the model shape, labels, input settings, data and options are the run's.
    public static func restore(_ trainer: ClassifierTrainer, settings: ClassifierSettings, from directory: URL) throws {
        let saved = try readSettings(directory)
        guard saved.labels == settings.labels else { throw ClassifierResumeError.labels(checkpoint: saved.labels, run: settings.labels) }
        for (name, old, new) in [("--max-length", "\(saved.maxLength)", "\(settings.maxLength)"),
                                 ("--truncate", saved.truncation.rawValue, settings.truncation.rawValue),
                                 ("--end-token", "\(saved.endToken)", "\(settings.endToken)")] where old != new {
            throw ClassifierResumeError.option(name: name, checkpoint: old, run: new)
        }
        let stateURL = directory.appendingPathComponent(stateFileName)
        guard let stateData = FileManager.default.contents(atPath: stateURL.path) else { throw CheckpointError.missingFile(stateURL.path) }
        let state: ClassifierTrainingState
        do { state = try JSONDecoder().decode(ClassifierTrainingState.self, from: stateData) } catch {
            throw ClassifierCheckpointError.invalidSettings(path: stateURL.path, reason: "not a valid training state (\(error))")
        }
        try TrainingCheckpoint.compare(HuggingFaceGPT2.loadConfig(directory.appendingPathComponent("config.json")),
                                       trainer.classifier.model.config)
        try trainer.restore(state)
        let weights = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        try HuggingFaceGPT2.loadWeights(weights, into: trainer.classifier.model)
        try trainer.loadMoments(from: SafeTensorsFile(contentsOf: directory.appendingPathComponent(optimizerFileName)))
    }
}
