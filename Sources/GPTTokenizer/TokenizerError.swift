// The errors the tokenizers report: each names the file, line, character or id at
// fault and what was expected, so a one-line CLI message is enough to fix the input.
import Foundation

/// Why a tokenizer could not be loaded, trained or applied.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// A file could not be read (missing, unreadable, a directory).
    case unreadableFile(path: String, reason: String)
    /// A file could not be written (a full disk, a read-only file system).
    case unwritableFile(path: String, reason: String)
    /// A file that must be UTF-8 text is not; `byteOffset` is the first bad byte.
    case invalidUTF8(path: String, byteOffset: Int)
    /// A line of a rank, vocabulary or merges file does not parse.
    case malformedLine(path: String, line: Int, reason: String)
    /// A vocabulary is inconsistent as a whole (duplicate or missing ranks, unknown merge parts).
    case malformedVocabulary(path: String, reason: String)
    /// Text to encode contains a character the character vocabulary lacks.
    case unknownCharacter(character: Unicode.Scalar, position: Int)
    /// An id to decode is outside the vocabulary.
    case unknownTokenID(id: Int, vocabularySize: Int)
    /// Training found no text to learn from.
    case emptyCorpus
    /// The requested vocabulary cannot hold the 256 bytes plus the special tokens.
    case vocabularyTooSmall(requested: Int, minimum: Int)
    /// The requested vocabulary is larger than ids can be (`BytePairTokenizer.idLimit`).
    case vocabularyTooLarge(requested: Int, maximum: Int)
    /// A `--tokenizer` argument names nothing loadable.
    case unknownTokenizer(spec: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)"
        case let .unwritableFile(path, reason):
            return "cannot write \(path): \(reason)"
        case let .invalidUTF8(path, offset):
            return "\(path) is not valid UTF-8 (bad byte at offset \(offset))"
        case let .malformedLine(path, line, reason):
            return "\(path):\(line): \(reason)"
        case let .malformedVocabulary(path, reason):
            return "\(path): \(reason)"
        case let .unknownCharacter(character, position):
            let code = String(character.value, radix: 16, uppercase: true)
            return "character \(character.escaped(asASCII: true)) (U+\(code)) at position \(position) "
                + "is not in the character vocabulary"
        case let .unknownTokenID(id, size):
            return "token id \(id) is outside the vocabulary (size \(size))"
        case .emptyCorpus:
            return "the corpus is empty: there is no text to train on"
        case let .vocabularyTooSmall(requested, minimum):
            return "vocabulary size \(requested) is too small: at least \(minimum) "
                + "(256 byte tokens plus the special tokens) is needed"
        case let .vocabularyTooLarge(requested, maximum):
            return "vocabulary size \(requested) is too large: at most \(maximum) (ids are stored as Int32)"
        case let .unknownTokenizer(spec, reason):
            return "tokenizer '\(spec)': \(reason)"
        }
    }
}
