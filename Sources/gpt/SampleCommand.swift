// `gpt sample`: generate text from a checkpoint (ours, or a Hugging Face GPT-2
// directory), streaming it as it is made.
import ArgumentParser
import Foundation
import GPTIO
import GPTCore
import GPTData
import GPTGeneration
import GPTKernels
import GPTTokenizer
import GPTTraining

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a trained model, streaming it to standard output.",
        discussion: """
        The sampling chain runs in this order: repetition penalty, temperature (0 = greedy), top-k, \
        top-p, then a draw with the seeded generator. Prefill and decode speeds go to standard error.
        Examples:
          gpt sample --checkpoint runs/demo --prompt "The king"
          gpt sample --checkpoint gpt2-dir --tokenizer gpt2 --prompt "Hello" \\
              --top-k 40 --max-new-tokens 100
          gpt sample --checkpoint hf:gpt2 --prompt "Hello"    # downloads if not cached
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Option(help: "char, gpt2 or a tokenizer PATH (default: the one in the checkpoint).") var tokenizer: String?
    @Option(help: "The text to continue (default: start of text).") var prompt: String?
    @Option(help: "Read the prompt from a file.") var promptFile: String?
    @Option(parsing: .unconditional, help: "Tokens to generate per sample (1...\(Self.maxTokens)).") var maxNewTokens = 256
    @Option(help: "Softmax temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(help: "Keep only the K most likely tokens.") var topK: Int?
    @Option(help: "Keep the most likely tokens up to probability P (nucleus sampling).") var topP: Float?
    @Option(help: "Divide (multiply, if negative) the logits of tokens already present by R.") var repetitionPenalty: Float = 1
    @Option(help: "Stop a sample when this text appears (repeatable); the output is cut before it.") var stop: [String] = []
    @Option(parsing: .unconditional, help: "Samples to generate (1...\(Self.maxSamples)), decoded together.") var numSamples = 1
    @Option(help: "Seed for sampling.") var seed: UInt64 = 1337
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var weights: WeightFormatOption
    @OptionGroup var output: JSONOutput

    static let maxSamples = 256
    var json: Bool { output.json }

    static let maxTokens = 100_000

    func validate() throws {
        guard (1...Self.maxTokens).contains(maxNewTokens) else {
            throw ValidationError("--max-new-tokens must be in 1...\(Self.maxTokens), got \(maxNewTokens)")
        }
        guard (1...Self.maxSamples).contains(numSamples) else {
            throw ValidationError("--num-samples must be in 1...\(Self.maxSamples), got \(numSamples)")
        }
        if prompt != nil && promptFile != nil { throw ValidationError("give --prompt or --prompt-file, not both") }
        guard !stop.contains("") else { throw ValidationError("--stop text must not be empty") }
        do {
            try SamplingOptions(temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty).validate()
        } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let directory = try checkpointSource.directory()
        let config = try HuggingFaceGPT2.loadConfig(directory.appendingPathComponent("config.json"))
        try MemoryBudget.require(config.inferenceBytes(batch: numSamples, threads: threading.threads),
                                 for: "\(numSamples) samples decoded together")
        let model = try HuggingFaceGPT2.load(directory: directory, pool: try ThreadPool(threads: threading.threads),
                                             weightFormat: weights.dtype)
        let tokens: any Tokenizer
        do { tokens = try TokenizerLoader.load(tokenizer ?? directory.path) } catch {
            throw CommandError("\(error)" + (tokenizer == nil ? "; pass --tokenizer char|gpt2|PATH" : ""))
        }
        try VocabularyCheck.check(tokens, modelVocabulary: model.config.vocabSize, use: .generate)
        var ids = try promptIDs(tokens)
        if ids.count > model.config.contextLength {
            warn("the prompt has \(ids.count) tokens; keeping the last \(model.config.contextLength) (the context length)")
            ids = Array(ids.suffix(model.config.contextLength))
        }
        var options = GenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.seed = seed
        options.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty)
        if let end = tokens.endOfTextID { options.stopTokens = [Int32(end)] }

        let streaming = numSamples == 1 && !json
        var texts = [StopTextScanner](repeating: StopTextScanner(stops: stop), count: numSamples)
        var decoders = [StreamingTextDecoder](repeating: StreamingTextDecoder(), count: numSamples)
        let generator = Generator(model: model)
        var samples = try generator.generate(prompt: ids, samples: numSamples, options: options) { s, token in
            let piece = decoders[s].push((try? tokens.decodeBytes([Int(token)])) ?? [])
            let (ready, stopped) = texts[s].append(piece)
            if streaming { write(ready) }
            return !stopped
        }
        for s in 0..<numSamples where !texts[s].stopped {
            let (ready, _) = texts[s].append(decoders[s].finish())
            if streaming { write(ready) }
            if streaming { write(texts[s].flush()) }
        }
        if streaming { write("\n") }
        // A sample cut by a stop text keeps only the ids whose text precedes it.
        for s in 0..<numSamples where texts[s].stopped { samples[s] = Array(samples[s].prefix(tokensBefore(texts[s].text, samples[s], tokens))) }
        let t = generator.timing
        let prefillRate = Double(t.prefillTokens) / max(t.prefillSeconds, 1e-9)
        let decodeRate = Double(t.decodeTokens) / max(t.decodeSeconds, 1e-9)
        warn(String(format: "prefill: %d tokens at %.0f tokens/s; decode: %d tokens at %.1f tokens/s (%.1f ms/token)",
                    t.prefillTokens, prefillRate, t.decodeTokens, decodeRate, 1000 / max(decodeRate, 1e-9)))
        if !streaming && !json {
            for s in 0..<numSamples { print("--- sample \(s + 1) ---\n" + texts[s].text) }
        }
        if json {
            try printJSONLine(["prompt_ids": ids.map(Int.init),
                           "samples": (0..<numSamples).map { ["text": texts[$0].text, "ids": samples[$0].map(Int.init)] },
                           "prefill_tokens_per_sec": rounded(prefillRate, 1), "decode_tokens_per_sec": rounded(decodeRate, 2)])
        }
    }

    func promptIDs(_ tokens: any Tokenizer) throws -> [Int32] {
        var text = prompt ?? ""
        if let promptFile {
            let data = try InputFile.read(promptFile, what: "--prompt-file", limit: 1 << 30)
            text = String(decoding: data, as: UTF8.self)
        }
        if text.isEmpty {
            if let end = tokens.endOfTextID { return [Int32(end)] }
            text = "\n"
        }
        do { return try tokens.encode(text).map(Int32.init) } catch { throw CommandError("the prompt cannot be encoded: \(error)") }
    }

    /// How many of `ids` decode to text that fits in `kept` (the text before a stop).
    func tokensBefore(_ kept: String, _ ids: [Int32], _ tokens: any Tokenizer) -> Int {
        var count = 0
        var bytes = 0
        let limit = kept.utf8.count
        for id in ids {
            bytes += ((try? tokens.decodeBytes([Int(id)])) ?? []).count
            if bytes > limit { break }
            count += 1
        }
        return count
    }

    func write(_ text: String) {
        guard !text.isEmpty else { return }
        StandardStreams.output(text)
    }

    func warn(_ text: String) { StandardStreams.error(text + "\n") }
}
