// `gpt convert`: between our checkpoint directory and a Hugging Face GPT-2 directory, or, for an
// encoder–decoder, between ours and a Hugging Face MarianMTModel directory (MarianWeights).
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
        abstract: "Convert a checkpoint between our format and a Hugging Face GPT-2 or MarianMTModel directory.",
        discussion: """
        --format hf writes config.json and model.safetensors, which \
        GPT2LMHeadModel.from_pretrained loads, and for a BPE tokenizer vocab.json, merges.txt and \
        tokenizer_config.json (special tokens and the checkpoint's chat template as `chat_template` \
        Jinja), which AutoTokenizer loads and apply_chat_template renders. --format native also \
        writes the tokenizer (from --tokenizer, or found in --from). --dtype bf16|f16 stores the \
        weight matrices and the token embedding in that dtype (LayerNorm, biases and positions stay \
        F32; transformers loads the file); --dtype q8_0 stores them as 8-bit blocks of 32 with one \
        f16 scale each (NAME.q8_0 and NAME.q8_0_scale, read by gpt only). The input may be in any of these.
        An encoder–decoder (gpt train --pairs) converts to a MarianMTModel directory with --format hf \
        (MarianMTModel.from_pretrained loads it; gpt translate too, from the tokenizer file written beside \
        it) and back with --format native. Marian has no LayerNorm after its stacks and is post-LN: a \
        model trained with final_norm or norm_first is refused (train with --set final_norm=false). Only fp32.
        Example: gpt convert --from runs/demo --to demo-hf --format hf
        Example: gpt convert --from runs/demo --to demo-bf16 --dtype bf16
        Example: gpt convert --from runs/en-es --to en-es-marian --format hf
        """)

    @Option(help: "The checkpoint to read.") var from: String
    @Option(help: "The directory to write.") var to: String
    @Option(help: "hf (config.json and model.safetensors) or native (also the tokenizer).") var format = Format.hf
    @Option(help: "char, gpt2 or a tokenizer PATH to store with a native checkpoint.") var tokenizer: String?
    @Option(help: "Dtype of the stored weight matrices: fp32, bf16, f16 or q8_0.") var dtype = WeightFormat.fp32

    enum Format: String, ExpressibleByArgument, CaseIterable { case hf, native }

    func run() throws {
        let source = try CheckpointLocation.locate(from), destination = URL(fileURLWithPath: to)
        if Seq2SeqCheckpoint.isSeq2Seq(source) { return try convertEncoderDecoder(source, to: destination) }
        let model = try HuggingFaceGPT2.load(directory: source, pool: try ThreadPool(threads: 1))
        let chatTemplate = try ChatCheckpoint.template(of: source)
        try HuggingFaceGPT2.save(model, to: destination, config: chatTemplate is PlainChatTemplate ? nil
                                     : ChatCheckpoint.configJSON(model.config, template: chatTemplate.name), dtype: dtype)
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
        print("wrote \(format) checkpoint to \(destination.path) (\(model.parameterCount) parameters, matrices in \(dtype.rawValue))")
        if FileManager.default.fileExists(atPath: source.appendingPathComponent(ClassifierCheckpoint.settingsFileName).path) {
            StandardStreams.error("note: \(source.path) is a classifier; only its language model was converted (the score head and labels were not)\n")
        }
    }

    /// An encoder–decoder (ours or a MarianMTModel): --format hf writes a MarianMTModel directory,
    /// native our nn.Transformer-named one; both get the tokenizer, so gpt translate runs on either.
    func convertEncoderDecoder(_ source: URL, to destination: URL) throws {
        guard dtype == .fp32 else { throw CommandError("an encoder–decoder converts in fp32 only (--dtype \(dtype.rawValue) given)") }
        let model = try Seq2SeqWeights.load(directory: source, pool: try ThreadPool(threads: 1))
        let tokens: any Tokenizer
        do { tokens = try TokenizerLoader.load(tokenizer ?? source.path) } catch {
            throw CommandError("an encoder–decoder is converted with its tokenizer: \(error); pass --tokenizer PATH")
        }
        guard tokens.vocabularySize <= model.config.vocabSize else {
            throw CommandError("the tokenizer has \(tokens.vocabularySize) ids, more than the model's vocab_size \(model.config.vocabSize)")
        }
        switch format {
        case .hf: try MarianWeights.save(model, to: destination)
        case .native: try Seq2SeqWeights.save(model, to: destination)
        }
        try TokenizerFile.write(tokens, to: destination.appendingPathComponent(TokenizerFile.defaultFileName))
        let what = format == .hf ? "Hugging Face MarianMTModel" : "native encoder–decoder"
        print("wrote \(what) checkpoint to \(destination.path) (\(try model.config.parameterCount()) parameters, fp32)")
    }
}
