// `gpt classify`: label texts with a classifier made by `gpt finetune classify`.
import ArgumentParser
import Foundation
import GPTIO
import GPTCore
import GPTData
import GPTKernels
import GPTTraining

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label texts with a fine-tuned classifier; print each label and the class probabilities.",
        discussion: """
        Texts come as arguments, or from --input: a plain text file (one text per non-empty line), or \
        a .jsonl / .csv / .tsv file of the kind `gpt finetune classify` reads (its "text" field; a \
        "label" field, if present, is ignored here).
        Examples:
          gpt classify --checkpoint runs/clf "a gorgeous, witty film" "overlong"
          gpt classify --checkpoint runs/clf --input reviews.txt --json
        """)

    @OptionGroup var checkpointSource: CheckpointOption
    @Argument(help: "Texts to classify.") var texts: [String] = []
    @Option(help: "A file of texts: one per line, or .jsonl / .csv / .tsv with a text field.") var input: String?
    @Option(help: "Texts per forward pass.") var batchSize = 32
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: JSONOutput
    var json: Bool { output.json }

    func validate() throws {
        guard texts.isEmpty != (input == nil) else { throw ValidationError("give texts as arguments or --input FILE (one of the two)") }
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...4096, got \(batchSize)") }
    }

    func run() throws {
        let (classifier, settings, tokenizer) = try ClassifierCheckpoint.load(directory: try checkpointSource.directory(),
                                                                               pool: try ThreadPool(threads: threading.threads))
        let inputs = try readTexts()
        let encoder = try settings.encoder(tokenizer)
        let sequences = try inputs.enumerated().map { index, text in
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw CommandError("text \(index + 1) is empty; there is nothing to classify")
            }
            do { return try encoder.encode(text).ids } catch {
                throw CommandError("text \(index + 1) cannot be encoded with the classifier's tokenizer: \(error)")
            }
        }
        let probabilities = try classifier.predict(sequences, padding: encoder.paddingToken, batchSize: batchSize)
        var predictions: [[String: Any]] = []
        for (text, p) in zip(inputs, probabilities) {
            let best = p.indices.max { p[$0] < p[$1] }!
            let label = settings.labels[best]
            let shown = zip(settings.labels, p).map { String(format: "%@ %.3f", $0, $1) }.joined(separator: ", ")
            print("\(label)\t(\(shown))\t\(text)")
            predictions.append(["text": text, "label": label,
                                "probabilities": Dictionary(uniqueKeysWithValues: zip(settings.labels, p.map(Double.init)))])
        }
        if json { try printJSONLine(["predictions": predictions]) }
    }

    func readTexts() throws -> [String] {
        guard let input else { return texts }
        let url = URL(fileURLWithPath: input)
        if ["jsonl", "ndjson", "json", "csv", "tsv", "tab"].contains(url.pathExtension.lowercased()) {
            return try LabeledExamples.read(url, requireLabels: false).map(\.text)
        }
        let data = try InputFile.read(input, what: "--input")
        guard let text = String(data: data, encoding: .utf8) else { throw CommandError("--input \(input) is not UTF-8 text") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { throw CommandError("--input \(input) holds no text") }
        return lines
    }
}
