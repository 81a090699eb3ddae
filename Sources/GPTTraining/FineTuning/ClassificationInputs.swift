// Turning labeled texts into what the classifier reads: token ids, cut to the maximum
// length, ending in the end-of-text token where the tokenizer has one (GPT-1's "extract"
// token: the head always reads the same kind of position), and label indices.
import GPTData
import GPTTokenizer

/// Which end of a too-long input loses tokens.
public enum Truncation: String, CaseIterable, Codable, Sendable {
    /// Drop tokens from the start: keep the end of the text.
    case left
    /// Drop tokens from the end: keep the start (Hugging Face's default side).
    case right
}

public enum ClassificationDataError: Error, CustomStringConvertible, Equatable {
    case singleClass(label: String, path: String)
    case unknownLabel(label: String, path: String, line: Int, known: [String])
    case unencodableText(path: String, line: Int, reason: String)
    case maxLengthTooSmall(Int)
    case noExamples

    public var description: String {
        switch self {
        case let .singleClass(label, path):
            return "\(path): every example has the label '\(label)'; a classifier needs at least two classes"
        case let .unknownLabel(label, path, line, known):
            return "\(path):\(line): label '\(label)' does not occur in the training data (its labels: \(known.joined(separator: ", ")))"
        case let .unencodableText(path, line, reason):
            return "\(path):\(line): the text cannot be encoded with the model's tokenizer: \(reason)"
        case let .maxLengthTooSmall(n):
            return "the maximum input length must be at least 2 tokens, got \(n)"
        case .noExamples:
            return "there are no training examples"
        }
    }
}

/// Encoded examples: one token sequence and one label index each.
public struct ClassificationInputs: Sendable {
    public var sequences: [[Int32]]
    public var labels: [Int]
    public var count: Int { sequences.count }
    /// Inputs that were longer than the maximum length and lost tokens.
    public var truncatedCount = 0

    public init(sequences: [[Int32]], labels: [Int]) {
        self.sequences = sequences
        self.labels = labels
    }
}

public struct ClassificationEncoder: Sendable {
    public let tokenizer: any Tokenizer
    public let maxLength: Int
    public let truncation: Truncation
    /// Whether inputs end with the tokenizer's end-of-text token (when it has one).
    public let appendsEndToken: Bool

    public init(tokenizer: any Tokenizer, maxLength: Int, truncation: Truncation, appendsEndToken: Bool = true) throws {
        guard maxLength >= 2 else { throw ClassificationDataError.maxLengthTooSmall(maxLength) }
        self.tokenizer = tokenizer
        self.maxLength = maxLength
        self.truncation = truncation
        self.appendsEndToken = appendsEndToken
    }

    /// The token that ends every input, if any.
    public var endToken: Int32? { appendsEndToken ? tokenizer.endOfTextID.map(Int32.init) : nil }
    /// What fills the positions after a short input (never read: see PaddedBatch).
    public var paddingToken: Int32 { tokenizer.endOfTextID.map(Int32.init) ?? 0 }

    /// The ids of `text`, truncated to `maxLength` including the end token; `truncated` says whether it was cut.
    public func encode(_ text: String) throws -> (ids: [Int32], truncated: Bool) {
        var ids = try tokenizer.encode(text).map(Int32.init)
        let room = maxLength - (endToken == nil ? 0 : 1)
        let truncated = ids.count > room
        if truncated { ids = truncation == .right ? Array(ids.prefix(room)) : Array(ids.suffix(room)) }
        if let endToken { ids.append(endToken) }
        return (ids, truncated)
    }

    /// Encodes labeled examples; labels are looked up in `labelNames` (their index is the class).
    public func encode(_ examples: [LabeledExample], labelNames: [String], path: String) throws -> ClassificationInputs {
        let index = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ($1, $0) })
        var inputs = ClassificationInputs(sequences: [], labels: [])
        inputs.sequences.reserveCapacity(examples.count)
        for example in examples {
            guard let label = index[example.label] else {
                throw ClassificationDataError.unknownLabel(label: example.label, path: path, line: example.line, known: labelNames)
            }
            let encoded: (ids: [Int32], truncated: Bool)
            do { encoded = try encode(example.text) } catch {
                throw ClassificationDataError.unencodableText(path: path, line: example.line, reason: "\(error)")
            }
            inputs.sequences.append(encoded.ids)
            inputs.labels.append(label)
            if encoded.truncated { inputs.truncatedCount += 1 }
        }
        return inputs
    }
}
