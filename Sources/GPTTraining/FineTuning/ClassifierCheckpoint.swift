// A fine-tuned classifier on disk: a Hugging Face GPT-2 directory whose model.safetensors
// also holds the head (`score.weight` [K, C] as GPT2ForSequenceClassification names it,
// and our `score.bias` [K]), whose config.json also carries `id2label` / `label2id`,
// plus the tokenizer and classifier.json (labels and how inputs are cut):
//
//   config.json  model.safetensors  gpt-tokenizer.json  classifier.json
//
// Saving writes a complete new directory and then switches the `checkpoint` link to it
// (as TrainingCheckpoint does), so a kill at any moment leaves the last good one intact.
import Foundation
import GPTCore
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
            return "\(path) holds no classification head (no classifier.json or score.weight); "
                + "make one with `gpt finetune classify --checkpoint <pre-trained> --train ... --test ... --out DIR`"
        case let .invalidSettings(path, reason): return "\(path): \(reason)"
        }
    }
}

public enum ClassifierCheckpoint {
    public static let settingsFileName = "classifier.json"

    /// Writes `classifier` under `run` as `checkpoint-<name>` and points `run/checkpoint` at it.
    @discardableResult
    public static func save(_ classifier: SequenceClassifier, settings: ClassifierSettings, tokenizer: any Tokenizer,
                            in run: URL, name: String) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: run, withIntermediateDirectories: true)
        let final = run.appendingPathComponent("checkpoint-\(name)")
        let staging = run.appendingPathComponent(".checkpoint-\(name).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)

        let model = classifier.model, head = classifier.head
        try AtomicFile.write(configJSON(model.config, labels: settings.labels, padding: tokenizer.endOfTextID),
                             to: staging.appendingPathComponent("config.json"))
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt"]
        for tensor in model.layout.tensors {
            writer.add("transformer." + tensor.name, floats: UnsafeBufferPointer(start: model.parameters + tensor.offset, count: tensor.count),
                       shape: tensor.shape)
        }
        for tensor in head.tensors {
            writer.add(tensor.name, floats: UnsafeBufferPointer(start: head.parameters + tensor.offset, count: tensor.count), shape: tensor.shape)
        }
        try writer.write(to: staging.appendingPathComponent("model.safetensors"))
        try TokenizerFile.write(tokenizer, to: staging.appendingPathComponent(TokenizerFile.defaultFileName))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(settings), to: staging.appendingPathComponent(settingsFileName))

        try? fm.removeItem(at: final)  // a directory of the same name no link points at (an earlier run's)
        try fm.moveItem(at: staging, to: final)
        try TrainingCheckpoint.point(TrainingCheckpoint.linkName, at: final, in: run)
        return final
    }

    /// The model config as Hugging Face writes it for GPT2ForSequenceClassification.
    static func configJSON(_ config: GPTConfig, labels: [String], padding: Int?) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any] else {
            throw ClassifierCheckpointError.invalidSettings(path: "config.json", reason: "the model config is not a JSON object")
        }
        object["architectures"] = ["GPT2ForSequenceClassification"]
        object["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
        object["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        if let padding { object["pad_token_id"] = padding }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Loads a classifier saved by `save` (or a run directory whose `checkpoint` link names one).
    public static func load(directory: URL, pool: ThreadPool) throws -> (SequenceClassifier, ClassifierSettings, any Tokenizer) {
        let settingsURL = directory.appendingPathComponent(settingsFileName)
        guard let data = FileManager.default.contents(atPath: settingsURL.path) else {
            throw ClassifierCheckpointError.noHead(path: directory.path)
        }
        let settings: ClassifierSettings
        do { settings = try JSONDecoder().decode(ClassifierSettings.self, from: data) } catch {
            throw ClassifierCheckpointError.invalidSettings(path: settingsURL.path, reason: "not a valid classifier.json (\(error))")
        }
        guard settings.labels.count >= 2, Set(settings.labels).count == settings.labels.count else {
            throw ClassifierCheckpointError.invalidSettings(path: settingsURL.path, reason: "needs at least two distinct labels")
        }
        let model = try HuggingFaceGPT2.load(directory: directory, pool: pool)
        guard settings.maxLength >= 2 && settings.maxLength <= model.config.contextLength else {
            throw ClassifierCheckpointError.invalidSettings(
                path: settingsURL.path, reason: "max_length \(settings.maxLength) is outside 2...\(model.config.contextLength)")
        }
        let head = ClassificationHead(inputSize: model.config.embeddingSize, classCount: settings.labels.count)
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        for tensor in head.tensors {
            guard let entry = file[tensor.name] else { throw CheckpointError.missingTensor(tensor.name) }
            guard entry.shape == tensor.shape else {
                throw CheckpointError.shapeMismatch(tensor: tensor.name, expected: tensor.shape, found: entry.shape)
            }
            (head.parameters + tensor.offset).update(from: try file.floats(tensor.name), count: tensor.count)
        }
        let tokenizer = try TokenizerLoader.load(directory.path)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw ClassifierCheckpointError.invalidSettings(
                path: directory.path, reason: "the tokenizer has \(tokenizer.vocabularySize) ids but the model only \(model.config.vocabSize)")
        }
        return (SequenceClassifier(model: model, head: head), settings, tokenizer)
    }
}
