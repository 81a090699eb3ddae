// What the engine serves: a model, its tokenizer and its chat template, loaded once and
// used only from the engine's thread.
import Foundation
import GPTCore
import GPTKernels
import GPTTokenizer
import GPTTraining

public final class LoadedModel: @unchecked Sendable {
    public let model: GPT
    public let tokenizer: any Tokenizer
    public let template: any ChatTemplate

    public init(model: GPT, tokenizer: any Tokenizer, template: any ChatTemplate = PlainChatTemplate()) {
        self.model = model; self.tokenizer = tokenizer; self.template = template
    }

    /// Loads a checkpoint directory (ours, a run directory, or a Hugging Face GPT-2 directory), or
    /// `hf:NAME` from the Hugging Face cache (downloading what it lacks), its matrices held in
    /// `weightFormat` (nil: as stored).
    public static func load(checkpoint: String, tokenizer: String?, threads: Int,
                            weightFormat: WeightFormat? = nil) throws -> LoadedModel {
        let directory = try CheckpointLocation.locate(checkpoint)
        let model = try HuggingFaceGPT2.load(directory: directory, pool: try ThreadPool(threads: threads),
                                             weightFormat: weightFormat)
        let tokens = try TokenizerLoader.load(tokenizer ?? directory.path)
        guard tokens.vocabularySize <= model.config.vocabSize else {
            throw ServerError.vocabularyMismatch(tokenizer: tokens.vocabularySize, model: model.config.vocabSize)
        }
        // The template the checkpoint's config names (a chat fine-tune's chatml stops at <|im_end|>).
        return LoadedModel(model: model, tokenizer: tokens, template: try ChatCheckpoint.template(of: directory))
    }
}
