// `gpt convert`: between our checkpoint directory and a Hugging Face GPT-2 directory.
// Both hold config.json and model.safetensors in Hugging Face's names and layout; the
// conversion normalises the input (bare or `transformer.` names, F16/BF16 to F32, the
// tied lm_head and mask buffers dropped) and, for our format, adds the tokenizer.
import ArgumentParser
import Foundation
import GPTIO
import GPTCore
import GPTKernels
import GPTTraining
import GPTTokenizer

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint between our format and a Hugging Face GPT-2 directory.",
        discussion: """
        --format hf writes config.json and model.safetensors, which \
        GPT2LMHeadModel.from_pretrained loads, and for a BPE tokenizer vocab.json, merges.txt and \
        tokenizer_config.json (special tokens and the checkpoint's chat template as `chat_template` \
        Jinja), which AutoTokenizer loads and apply_chat_template renders. --format native also writes the tokenizer (from \
        --tokenizer, or found in --from).
        Example: gpt convert --from runs/demo --to demo-hf --format hf
        """)

    @Option(help: "The checkpoint to read.") var from: String
    @Option(help: "The directory to write.") var to: String
    @Option(help: "hf (config.json and model.safetensors) or native (also the tokenizer).") var format = Format.hf
    @Option(help: "char, gpt2 or a tokenizer PATH to store with a native checkpoint.") var tokenizer: String?

    enum Format: String, ExpressibleByArgument, CaseIterable { case hf, native }

    func run() throws {
        let source = CheckpointLocation.resolve(from), destination = URL(fileURLWithPath: to)
        let model = try HuggingFaceGPT2.load(directory: source, pool: try ThreadPool(threads: 1))
        let chatTemplate = try ChatCheckpoint.template(of: source)
        try HuggingFaceGPT2.save(model, to: destination, config: chatTemplate is PlainChatTemplate ? nil
                                     : ChatCheckpoint.configJSON(model.config, template: chatTemplate.name))
        if format == .hf {
            // The tokenizer and chat template as transformers reads them (a BPE tokenizer only).
            if let bpe = try? TokenizerLoader.load(tokenizer ?? source.path) as? BytePairTokenizer {
                try HuggingFaceTokenizerConfig.write(bpe, template: chatTemplate, contextLength: model.config.contextLength, to: destination)
            } else {
                StandardStreams.error("note: no BPE tokenizer found (pass --tokenizer); vocab.json, merges.txt and tokenizer_config.json not written\n")
            }
        }
        if format == .native {
            let tokens: any Tokenizer
            do { tokens = try TokenizerLoader.load(tokenizer ?? source.path) } catch {
                throw CommandError("a native checkpoint needs a tokenizer: \(error); pass --tokenizer char|gpt2|PATH")
            }
            try TokenizerFile.write(tokens, to: destination.appendingPathComponent(TokenizerFile.defaultFileName))
        }
        print("wrote \(format) checkpoint to \(destination.path) (\(model.parameterCount) parameters)")
        if FileManager.default.fileExists(atPath: source.appendingPathComponent(ClassifierCheckpoint.settingsFileName).path) {
            StandardStreams.error("note: \(source.path) is a classifier; only its language model was converted (the score head and labels were not)\n")
        }
    }
}
