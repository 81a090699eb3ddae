// A chat fine-tune on disk: a training checkpoint (TrainingCheckpoint's layout) whose
// config.json also names the chat template (`chat_template_name`, ChatTemplates.configKey),
// and whose tokenizer holds the template's special tokens.
//
//   config.json  model.safetensors  gpt-tokenizer.json  optimizer.safetensors  state.json
import Foundation
import GPTCore
import GPTIO
import GPTTokenizer

public enum ChatCheckpoint {
    public static func write(_ trainer: ChatTrainer, tokenizer: any Tokenizer, template: any ChatTemplate, to directory: URL) throws {
        try TrainingCheckpoint.write(model: trainer.model, optimizer: trainer.optimizer, state: trainer.state(), tokenizer: tokenizer,
                                     config: configJSON(trainer.model.config, template: template.name), to: directory)
    }

    /// The model config plus the template's name.
    public static func configJSON(_ config: GPTConfig, template: String) throws -> Data {
        var object = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any]) ?? [:]
        object[ChatTemplates.configKey] = template
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The template a checkpoint's config.json names (`plain` when it names none); an unknown name is an error.
    public static func template(of directory: URL) throws -> any ChatTemplate {
        let url = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let value = object[ChatTemplates.configKey] else { return PlainChatTemplate() }
        guard let name = value as? String, let template = ChatTemplates.named(name) else {
            throw ChatTemplateError.unknownTemplate(name: "\(value)")
        }
        return template
    }

    public static func restore(_ trainer: ChatTrainer, tokenizer: any Tokenizer, template: any ChatTemplate, from directory: URL) throws {
        try TrainingCheckpoint.compare(HuggingFaceGPT2.loadConfig(directory.appendingPathComponent("config.json")), trainer.model.config)
        let saved = try self.template(of: directory)
        guard saved.name == template.name else { throw ChatTrainingError.template(checkpoint: saved.name, run: template.name) }
        let savedTokens = try TokenizerLoader.load(directory.path)
        guard savedTokens.vocabularySize == tokenizer.vocabularySize else {
            throw CheckpointMismatch.tokenizer(checkpoint: "\(savedTokens.name) (\(savedTokens.vocabularySize) ids)",
                                               run: "\(tokenizer.name) (\(tokenizer.vocabularySize) ids)")
        }
        let stateURL = directory.appendingPathComponent("state.json")
        guard let stateData = FileManager.default.contents(atPath: stateURL.path) else { throw CheckpointError.missingFile(stateURL.path) }
        let state: ChatTrainingState
        do { state = try JSONDecoder().decode(ChatTrainingState.self, from: stateData) } catch {
            throw CheckpointError.invalidConfig(path: stateURL.path, reason: "not a valid chat training state (\(error))")
        }
        try trainer.restore(state)
        try HuggingFaceGPT2.loadWeights(SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors")),
                                        into: trainer.model)
        try trainer.optimizer.loadMoments(of: trainer.model.layout.tensors,
                                          from: SafeTensorsFile(contentsOf: directory.appendingPathComponent("optimizer.safetensors")))
    }
}
