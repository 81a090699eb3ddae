// A corpus as training and evaluation see it: a tokenizer and the token ids of the
// training and validation splits. Every route gives the same split of the same text:
//
//   - a directory made by `gpt prepare`: its train.bin and val.bin, or its llm.c shards
//     (any directory of llm.c shards counts, with or without our meta.json);
//   - a text file (or JSON Lines): encoded by `DataPreparer.tokenize`, the very pass
//     `gpt prepare` runs, so the last 10% of the text *by bytes* (cut back to a
//     character) is validation, whichever command reads it.
//
// A prepared directory's splits stay memory-mapped (a corpus larger than memory trains on
// the pages its windows touch); only a text encoded for this run is held in memory.
import Foundation
import GPTIO
import GPTTokenizer

public struct TokenizedCorpus {
    public let tokenizer: any Tokenizer
    public let train: TokenShards
    public let validation: TokenShards

    /// The share of a text file held out for validation when it is not prepared.
    public static let validationFraction = 0.1

    public init(tokenizer: any Tokenizer, train: TokenShards, validation: TokenShards) {
        self.tokenizer = tokenizer; self.train = train; self.validation = validation
    }

    public init(tokenizer: any Tokenizer, train: [Int32], validation: [Int32]) {
        self.init(tokenizer: tokenizer, train: TokenShards(tokens: train, name: "the training split"),
                  validation: TokenShards(tokens: validation, name: "the validation split"))
    }

    /// `path` is a prepared directory or a text / JSON Lines file. For a file, `tokenizer`
    /// encodes it (`.characters`: a vocabulary of its own characters); a prepared directory
    /// brings its own, which must then equal `tokenizer` when one is given.
    public static func load(_ path: String, tokenizer choice: DataPreparer.TokenizerChoice,
                            validationFraction: Double = TokenizedCorpus.validationFraction) throws -> TokenizedCorpus {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.unreadableInput(path: path, reason: "no such file or directory")
        }
        let url = URL(fileURLWithPath: path)
        if isDirectory.boolValue && PreparedDataset.isPrepared(url) {
            let dataset = try PreparedDataset(directory: url)
            if case .given(let expected) = choice {
                try VocabularyCheck.sameTokenizer(dataset.tokenizer, expected, data: path)
            }
            return TokenizedCorpus(tokenizer: dataset.tokenizer, train: dataset.train, validation: dataset.validation)
        }
        return try DataPreparer.tokenize(inputs: try CorpusInput.resolve([path]), tokenizer: choice,
                                         validationFraction: validationFraction)
    }

    /// The split of a text held in memory (the demo corpus), by the same rule.
    public static func text(_ text: String, tokenizer choice: DataPreparer.TokenizerChoice,
                            validationFraction: Double = TokenizedCorpus.validationFraction) throws -> TokenizedCorpus {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-text-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).txt")
        do { try Data(text.utf8).write(to: file) } catch {
            throw DataError.unwritableOutput(path: file.path, reason: FileAccessError.words(error))
        }
        defer { try? FileManager.default.removeItem(at: file) }
        return try DataPreparer.tokenize(inputs: [.textFile(file)], tokenizer: choice, validationFraction: validationFraction)
    }
}
