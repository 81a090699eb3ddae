// `gpt translate`: translate text with an encoder–decoder checkpoint (`gpt train --pairs`).
import ArgumentParser
import Foundation
import GPTCore
import GPTGeneration
import GPTIO
import GPTKernels
import GPTTokenizer
import GPTTraining

struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate text with an encoder–decoder checkpoint (greedy or beam search).",
        discussion: """
        Texts come as arguments, or from --input (one text per non-empty line). The encoder runs \
        once per text; the decoder keeps a KV cache and each layer's cross-attention keys and values. \
        --beam 1 is greedy and streams its output; a wider beam ranks hypotheses by their log-probability \
        over GNMT's length penalty ((5 + length) / 6)^α, α = --length-penalty. Without --json, one \
        translation per input line, in order; with --json, one object per input ({"source", \
        "source_ids", "text", "ids", "log_probability", "score"}) and a last line {"translations": N, ...}.
        The checkpoint may also be a Hugging Face MarianMTModel directory (gpt convert --format hf \
        of one, or any Marian model of the same architecture, with a tokenizer beside it).
        Examples:
          gpt translate --checkpoint runs/en-es "In the beginning God created."
          gpt translate --checkpoint runs/en-es --input verses.txt --json
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Argument(help: "Texts to translate.") var texts: [String] = []
    @Option(help: "A UTF-8 file of texts, one per non-empty line.") var input: String?
    @Option(help: "Beams (1: greedy, streamed).") var beam = 4
    @Option(help: "α of the GNMT length penalty ((5 + length) / 6)^α for beam search.") var lengthPenalty: Double = 0.6
    @Option(help: "Most tokens generated per text, EOS included (default: the model's positions).") var maxLength: Int?
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard texts.isEmpty != (input == nil) else { throw ValidationError("give texts as arguments or --input FILE (one of the two)") }
        guard (1...64).contains(beam) else { throw ValidationError("--beam must be in 1...64, got \(beam)") }
        guard lengthPenalty.isFinite, lengthPenalty >= 0 else { throw ValidationError("--length-penalty must be a finite number ≥ 0, got \(lengthPenalty)") }
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1, got \(maxLength)") }
    }

    func run() throws {
        let directory = try checkpointSource.directory()
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.json").path) else {
            throw CommandError("\(directory.path) holds no checkpoint (no config.json)")
        }
        guard Seq2SeqCheckpoint.isSeq2Seq(directory) else {
            throw CommandError("\(directory.path) is not an encoder–decoder checkpoint (config.json's model_type is neither \"transformer\" nor \"marian\"); "
                               + "use gpt sample for a GPT")
        }
        let model = try Seq2SeqWeights.load(directory: directory, pool: try ThreadPool(threads: threading.threads))
        let tokenizer = try TokenizerLoader.load(directory.path)
        let translator = Translator(model: model, tokenizer: tokenizer)
        let lines = try readTexts()
        let sources = try lines.enumerated().map { index, text in
            let ids = try tokenizer.encode(text).map(Int32.init)
            guard !ids.isEmpty else { throw CommandError("text \(index + 1) is empty: nothing to translate") }
            guard ids.count <= model.config.maxPositions else {
                throw CommandError("text \(index + 1) has \(ids.count) tokens, more than the model's \(model.config.maxPositions) positions")
            }
            return ids
        }
        let streams = beam == 1 && !output.json
        let started = Date()
        var generated = 0
        for (index, source) in sources.enumerated() {
            var streamed: [Int32] = [], printed = 0
            let result = try translator.translate([source], beam: beam, lengthPenalty: .gnmt(alpha: lengthPenalty),
                                                  maxLength: maxLength ?? model.config.maxPositions,
                                                  onToken: streams ? { _, token in
                // Print what decodes to whole characters so far (a BPE token may end inside one).
                streamed.append(token)
                guard let text = try? translator.text(streamed), !text.hasSuffix("\u{FFFD}") else { return }
                let scalars = Array(text.unicodeScalars)
                if scalars.count > printed {
                    var piece = String.UnicodeScalarView(); piece.append(contentsOf: scalars[printed...])
                    StandardStreams.output(String(piece)); printed = scalars.count
                }
            } : nil)[0]
            generated += result.ids.count + (result.endedWithEOS ? 1 : 0)
            if streams {
                let scalars = Array(result.text.unicodeScalars)
                var rest = String.UnicodeScalarView(); if scalars.count > printed { rest.append(contentsOf: scalars[printed...]) }
                StandardStreams.output(String(rest) + "\n")
            } else if output.json {
                let object: [String: Any] = ["source": lines[index], "source_ids": source.map(Int.init), "text": result.text,
                                             "ids": result.ids.map(Int.init), "log_probability": result.logProbability,
                                             "score": result.score]
                try printJSONLine(object)
            } else {
                print(result.text)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        if output.json {
            try printJSONLine(["translations": sources.count, "beam": beam, "generated_tokens": generated,
                               "tokens_per_sec": seconds > 0 ? Double(generated) / seconds : 0])
        }
    }

    func readTexts() throws -> [String] {
        guard let input else { return texts }
        let data = try InputFile.read(input, what: "--input")
        guard let text = String(data: data, encoding: .utf8) else { throw CommandError("--input \(input) is not UTF-8 text") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
        guard !lines.isEmpty else { throw CommandError("--input \(input) holds no text") }
        return lines
    }
}
