// Errors of data preparation and token files, naming the file and what was expected.
import Foundation

public enum DataError: Error, Equatable, CustomStringConvertible {
    case noInputs
    case unreadableInput(path: String, reason: String)
    case malformedJSONLine(path: String, line: Int, reason: String)
    case emptyCorpus
    case invalidValidationFraction(Double)
    case malformedTokenFile(path: String, reason: String)
    case unwritableOutput(path: String, reason: String)
    case inputIsOutput(path: String)
    /// The corpus cannot be stored in the asked format.
    case unsupportedByFormat(format: String, reason: String)
    /// A stop signal arrived; nothing was left under the output names.
    case interrupted

    public var description: String {
        switch self {
        case .noInputs:
            return "no input files: pass text files, directories or .jsonl files"
        case let .unreadableInput(path, reason):
            return "cannot read \(path): \(reason)"
        case let .malformedJSONLine(path, line, reason):
            return "\(path):\(line): \(reason)"
        case .emptyCorpus:
            return "the corpus is empty: the inputs hold no text"
        case let .invalidValidationFraction(value):
            return "validation fraction \(value) is outside [0, 1)"
        case let .malformedTokenFile(path, reason):
            return "\(path): \(reason)"
        case let .unwritableOutput(path, reason):
            return "cannot write \(path): \(reason)"
        case .interrupted:
            return "interrupted; no token files were written"
        case let .unsupportedByFormat(format, reason):
            return "cannot write \(format): \(reason)"
        case let .inputIsOutput(path):
            return "\(path) is one of this command's own output files; it would be overwritten while read"
        }
    }
}
