// The one check between a tokenizer and what it feeds: a model's embedding rows, or the
// tokenizer a corpus was prepared with. Every command that pairs them calls these.
import GPTTokenizer

public enum VocabularyCheck {
    public enum Use: Sendable {
        /// Training or scoring: every id the tokenizer makes must have a row.
        case encode
        /// Generation: every id the model can produce must also be decodable.
        case generate
    }

    /// Refuses a tokenizer with ids the model has no row for and, for generation, a model
    /// that can produce ids the tokenizer cannot decode.
    public static func check(_ tokenizer: any Tokenizer, modelVocabulary: Int, use: Use) throws {
        let size = tokenizer.vocabularySize
        if size > modelVocabulary || (use == .generate && size < modelVocabulary) {
            throw VocabularyMismatch.model(tokenizer: tokenizer.name, tokenizerIDs: size, modelIDs: modelVocabulary, use: use)
        }
    }

    /// Refuses a corpus prepared with another tokenizer than the checkpoint's.
    public static func sameTokenizer(_ prepared: any Tokenizer, _ expected: any Tokenizer, data: String) throws {
        guard prepared.name == expected.name && prepared.vocabularySize == expected.vocabularySize else {
            throw VocabularyMismatch.preparedWith(data: data, prepared: "\(prepared.name) (\(prepared.vocabularySize) ids)",
                                                  expected: "\(expected.name) (\(expected.vocabularySize) ids)")
        }
    }
}

public enum VocabularyMismatch: Error, CustomStringConvertible, Equatable {
    case model(tokenizer: String, tokenizerIDs: Int, modelIDs: Int, use: VocabularyCheck.Use)
    case preparedWith(data: String, prepared: String, expected: String)

    public var description: String {
        switch self {
        case let .model(name, ids, modelIDs, use):
            if ids > modelIDs { return "the tokenizer (\(name)) has \(ids) ids but the model only \(modelIDs): it is not this model's tokenizer" }
            return "the tokenizer (\(name)) has \(ids) ids but the model \(modelIDs)"
                + (use == .generate ? ": the model could produce ids the tokenizer cannot decode; pass the model's own tokenizer" : "")
        case let .preparedWith(data, prepared, expected):
            return "\(data) was prepared with tokenizer \(prepared), but the checkpoint's is \(expected); prepare it with the checkpoint's"
        }
    }
}
