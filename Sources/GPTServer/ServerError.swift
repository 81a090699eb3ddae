// Errors that stop the server from starting (the CLI prints them on one line).
public enum ServerError: Error, CustomStringConvertible {
    case vocabularyMismatch(tokenizer: Int, model: Int)
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .vocabularyMismatch(t, m): return "the tokenizer has \(t) ids but the model only \(m); pass --tokenizer"
        case let .invalidOption(text): return text
        }
    }
}
