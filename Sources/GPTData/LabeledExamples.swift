// Reads labeled text-classification data (a text and a label per example) for
// fine-tuning, from JSON Lines, CSV (RFC 4180) or TSV files. Every malformed input
// is an error naming the file and line, so bad data stops a run before training.
import Foundation
import GPTIO

/// One example: a text and its label as written in the file.
public struct LabeledExample: Equatable, Sendable {
    public var text: String
    /// A JSON string, or an integer rendered in decimal ("0", "1", "-3").
    public var label: String
    /// 1-based line of the JSON object, or the line a CSV/TSV record starts on.
    public var line: Int

    public init(text: String, label: String, line: Int) {
        self.text = text
        self.label = label
        self.line = line
    }
}

public enum LabeledExamples {
    /// Reads a file by its extension: .jsonl / .json / .ndjson → JSON Lines; .csv → CSV; .tsv / .tab → TSV.
    /// Without `requireLabels` (texts to classify), a missing label reads as "".
    public static func read(_ url: URL, requireLabels: Bool = true) throws -> [LabeledExample] {
        let parse: (Data) throws -> [LabeledExample]
        switch url.pathExtension.lowercased() {
        case "jsonl", "json", "ndjson": parse = { try parseJSONLines($0, path: url.path, requireLabels: requireLabels) }
        case "csv": parse = { try parseDelimited($0, separator: ",", path: url.path, requireLabels: requireLabels) }
        case "tsv", "tab": parse = { try parseDelimited($0, separator: "\t", path: url.path, requireLabels: requireLabels) }
        default: throw LabeledDataError.unknownExtension(path: url.path)
        }
        let data: Data
        do {
            data = try InputFile.read(url.path)
        } catch let error as FileAccessError {
            throw LabeledDataError.unreadableFile(path: url.path, reason: error.reason)
        } catch {
            throw LabeledDataError.unreadableFile(path: url.path, reason: FileAccessError.words(error))
        }
        return try parse(data)
    }

    /// One JSON object per line with a string `"text"` and a string or integer `"label"`;
    /// blank lines are skipped and other keys ignored.
    public static func parseJSONLines(_ data: Data, path: String, requireLabels: Bool = true) throws -> [LabeledExample] {
        let bytes = try utf8Bytes(data, path: path)
        let decoder = JSONDecoder()
        var examples: [LabeledExample] = []
        for (index, lineBytes) in bytes.split(separator: newline, omittingEmptySubsequences: false).enumerated() {
            guard lineBytes.contains(where: { !isBlank($0) }) else { continue }
            let fields: JSONFields
            do {
                fields = try decoder.decode(JSONFields.self, from: Data(lineBytes))
            } catch is NotAnObject {
                throw LabeledDataError.notAnObject(path: path, line: index + 1)
            } catch {
                throw LabeledDataError.invalidJSON(path: path, line: index + 1)
            }
            examples.append(try example(fields, path: path, line: index + 1, requireLabel: requireLabels))
        }
        guard !examples.isEmpty else { throw LabeledDataError.noExamples(path: path) }
        return examples
    }

    /// CSV or TSV with a header row naming `text` and `label` columns (case-insensitive; other
    /// columns ignored). Fields may be quoted with `"`, doubling quotes inside.
    public static func parseDelimited(_ data: Data, separator: Character, path: String,
                                      requireLabels: Bool = true) throws -> [LabeledExample] {
        guard let separatorByte = separator.asciiValue, separator.utf8.count == 1,
              separatorByte != quote, separatorByte != newline, separatorByte != carriageReturn else {
            preconditionFailure("the separator must be one ASCII character other than a quote or line end")
        }
        var scanner = DelimitedScanner(bytes: Array(try utf8Bytes(data, path: path)), separator: separatorByte, path: path)
        guard let header = try scanner.nextRecord() else { throw LabeledDataError.missingHeader(path: path) }
        let (textColumn, labelColumn) = try columns(of: header, path: path, requireLabel: requireLabels)
        var examples: [LabeledExample] = []
        while let record = try scanner.nextRecord() {
            guard record.fields.count == header.fields.count else {
                throw LabeledDataError.wrongFieldCount(path: path, line: record.line,
                                                       expected: header.fields.count, found: record.fields.count)
            }
            examples.append(try example(text: record.fields[textColumn], label: labelColumn.map { record.fields[$0] },
                                        path: path, line: record.line))
        }
        guard !examples.isEmpty else { throw LabeledDataError.noExamples(path: path) }
        return examples
    }

    /// The label names in a canonical order: numeric order if every label is an integer, otherwise lexicographic (String <) order.
    public static func labelNames(_ examples: [LabeledExample]) -> [String] {
        let names = Set(examples.map(\.label))
        let numbers = names.compactMap { name in Int(name).map { (value: $0, name: name) } }
        guard numbers.count == names.count else { return names.sorted() }
        // Ties ("1" and "+1") fall back to the text so the order never depends on hashing.
        return numbers.sorted { ($0.value, $0.name) < ($1.value, $1.name) }.map(\.name)
    }

    // MARK: - Shared

    /// The file's bytes without a leading byte order mark, after checking they are UTF-8.
    private static func utf8Bytes(_ data: Data, path: String) throws -> ArraySlice<UInt8> {
        var bytes = [UInt8](data)[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard String(validating: bytes, as: UTF8.self) == nil else { return bytes }
        // Only on failure: a multi-byte sequence cannot span a newline, so checking line by line finds the culprit.
        let lines = bytes.split(separator: newline, omittingEmptySubsequences: false)
        let bad = lines.firstIndex { String(validating: $0, as: UTF8.self) == nil } ?? 0
        throw LabeledDataError.notUTF8(path: path, line: bad + 1)
    }

    /// A nil `label` (allowed only when labels are not required) reads as "".
    private static func example(text: String, label: String?, path: String, line: Int) throws -> LabeledExample {
        guard !text.allSatisfy(\.isWhitespace) else { throw LabeledDataError.emptyText(path: path, line: line) }
        if let label, label.allSatisfy(\.isWhitespace) { throw LabeledDataError.emptyLabel(path: path, line: line) }
        return LabeledExample(text: text, label: label ?? "", line: line)
    }

    // MARK: - JSON Lines

    private static func example(_ fields: JSONFields, path: String, line: Int, requireLabel: Bool) throws -> LabeledExample {
        guard let text = fields.text else { throw LabeledDataError.missingText(path: path, line: line) }
        guard case .string(let textString) = text else {
            throw LabeledDataError.textNotString(path: path, line: line, found: text.kind)
        }
        guard let label = fields.label else {
            if requireLabel { throw LabeledDataError.missingLabel(path: path, line: line) }
            return try example(text: textString, label: nil, path: path, line: line)
        }
        switch label {
        case .string(let name):
            return try example(text: textString, label: name, path: path, line: line)
        case .integer(let value):
            return try example(text: textString, label: String(value), path: path, line: line)
        case .number(let value):
            let found = value.rounded() == value ? "the number \(value) (beyond the 64-bit integer range)" : "the number \(value)"
            throw LabeledDataError.wrongLabelType(path: path, line: line, found: found)
        default:
            throw LabeledDataError.wrongLabelType(path: path, line: line, found: label.kind)
        }
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == carriageReturn
    }

    // MARK: - CSV / TSV

    /// The positions of the `text` and `label` columns in the header (no label column is
    /// allowed only when labels are not required).
    private static func columns(of header: DelimitedRecord, path: String, requireLabel: Bool) throws -> (text: Int, label: Int?) {
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        for name in ["text", "label"] where names.filter({ $0 == name }).count > 1 {
            throw LabeledDataError.duplicateColumn(path: path, line: header.line, name: name)
        }
        let text = names.firstIndex(of: "text"), label = names.firstIndex(of: "label")
        guard let text, label != nil || !requireLabel else {
            let missing = (requireLabel ? ["text", "label"] : ["text"]).filter { !names.contains($0) }
            throw LabeledDataError.missingColumns(path: path, line: header.line, missing: missing)
        }
        return (text, label)
    }
}

private let newline = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
private let quote = UInt8(ascii: "\"")

// MARK: - JSON Lines decoding

/// Thrown while decoding a line that is valid JSON but not an object, to tell it from a syntax error.
private struct NotAnObject: Error {}

/// The two keys of a JSON Lines example, each nil when absent.
private struct JSONFields: Decodable {
    var text: JSONValue?
    var label: JSONValue?

    private enum CodingKeys: String, CodingKey { case text, label }

    init(from decoder: Decoder) throws {
        guard let container = try? decoder.container(keyedBy: CodingKeys.self) else { throw NotAnObject() }
        // `decodeIfPresent` would turn an explicit null into "missing"; null is a wrong type instead.
        text = container.contains(.text) ? try container.decode(JSONValue.self, forKey: .text) : nil
        label = container.contains(.label) ? try container.decode(JSONValue.self, forKey: .label) : nil
    }
}

/// A JSON value reduced to what the checks need.
private enum JSONValue: Decodable {
    case string(String)
    case integer(Int)
    /// A number that is not an integer in the `Int` range (integral doubles such as 1.0 decode as `.integer`).
    case number(Double)
    /// A number beyond even `Double`'s range.
    case hugeNumber
    case boolean
    case null
    case array
    case object

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        // Bool comes before Int so that true/false are never read as 1/0.
        if value.decodeNil() { self = .null }
        else if (try? value.decode(Bool.self)) != nil { self = .boolean }
        else if let integer = try? value.decode(Int.self) { self = .integer(integer) }
        else if let number = try? value.decode(Double.self) { self = .number(number) }
        else if let string = try? value.decode(String.self) { self = .string(string) }
        else if (try? decoder.unkeyedContainer()) != nil { self = .array }
        else if (try? decoder.container(keyedBy: AnyKey.self)) != nil { self = .object }
        else { self = .hugeNumber }
    }

    /// "a string", "a boolean", …: for error messages.
    var kind: String {
        switch self {
        case .string: return "a string"
        case .integer, .number: return "a number"
        case .hugeNumber: return "a number beyond the 64-bit integer range"
        case .boolean: return "a boolean"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - CSV / TSV scanning

/// A CSV/TSV record: its fields and the line it starts on.
private struct DelimitedRecord {
    var fields: [String]
    var line: Int
}

/// Splits RFC 4180 records off the bytes, tracking lines for error messages.
private struct DelimitedScanner {
    let bytes: [UInt8]
    let separator: UInt8
    let path: String
    private var index = 0
    private var line = 1

    init(bytes: [UInt8], separator: UInt8, path: String) {
        self.bytes = bytes
        self.separator = separator
        self.path = path
    }

    /// The next record after any empty lines, or nil at the end of the input.
    mutating func nextRecord() throws -> DelimitedRecord? {
        while lineEndLength(at: index) > 0 { consumeLineEnd() }
        guard index < bytes.count else { return nil }
        var record = DelimitedRecord(fields: [], line: line)
        while true {
            record.fields.append(try field())
            guard index < bytes.count, bytes[index] == separator else { break }
            index += 1
        }
        consumeLineEnd()
        return record
    }

    /// Reads one field, stopping at its separator or line end.
    private mutating func field() throws -> String {
        if index < bytes.count, bytes[index] == quote { return try quotedField() }
        let start = index
        while index < bytes.count, bytes[index] != separator, lineEndLength(at: index) == 0 { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func quotedField() throws -> String {
        let startLine = line
        index += 1
        var value: [UInt8] = []
        var segmentStart = index
        while index < bytes.count {
            if bytes[index] == quote {
                value += bytes[segmentStart..<index]
                index += 1
                guard index < bytes.count, bytes[index] == quote else {
                    try expectFieldEnd()
                    return String(decoding: value, as: UTF8.self)
                }
                // The second quote of `""` begins the next segment, so one quote is kept.
                segmentStart = index
            } else if bytes[index] == newline {
                line += 1
            }
            index += 1
        }
        throw LabeledDataError.unterminatedQuote(path: path, line: startLine)
    }

    private func expectFieldEnd() throws {
        guard index == bytes.count || bytes[index] == separator || lineEndLength(at: index) > 0 else {
            throw LabeledDataError.textAfterClosingQuote(path: path, line: line)
        }
    }

    /// 1 for \n, 2 for \r\n, 0 otherwise (a lone \r is text).
    private func lineEndLength(at position: Int) -> Int {
        guard position < bytes.count else { return 0 }
        if bytes[position] == newline { return 1 }
        if bytes[position] == carriageReturn, position + 1 < bytes.count, bytes[position + 1] == newline { return 2 }
        return 0
    }

    private mutating func consumeLineEnd() {
        let length = lineEndLength(at: index)
        guard length > 0 else { return }
        index += length
        line += 1
    }
}

/// What is wrong with a labeled data file, naming the file and line.
public enum LabeledDataError: Error, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case notUTF8(path: String, line: Int)
    case unknownExtension(path: String)
    case invalidJSON(path: String, line: Int)
    case notAnObject(path: String, line: Int)
    case missingText(path: String, line: Int)
    case textNotString(path: String, line: Int, found: String)
    case missingLabel(path: String, line: Int)
    case wrongLabelType(path: String, line: Int, found: String)
    case emptyText(path: String, line: Int)
    case emptyLabel(path: String, line: Int)
    case missingHeader(path: String)
    case missingColumns(path: String, line: Int, missing: [String])
    case duplicateColumn(path: String, line: Int, name: String)
    case wrongFieldCount(path: String, line: Int, expected: Int, found: Int)
    case unterminatedQuote(path: String, line: Int)
    case textAfterClosingQuote(path: String, line: Int)
    case noExamples(path: String)

    private static let jsonShape = "(each line needs {\"text\": ..., \"label\": ...})"
    private static let quoting = "(write a quote inside a quoted field as \"\")"

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)"
        case let .notUTF8(path, line):
            return "\(path):\(line): the bytes are not valid UTF-8, expected UTF-8 text"
        case let .unknownExtension(path):
            let ext = URL(fileURLWithPath: path).pathExtension
            return "\(path): unknown extension \(ext.isEmpty ? "(none)" : "\".\(ext)\""), expected .jsonl, .json or .ndjson "
                + "(JSON Lines), .csv (CSV), or .tsv or .tab (TSV)"
        case let .invalidJSON(path, line):
            return "\(path):\(line): the line is not valid JSON \(Self.jsonShape)"
        case let .notAnObject(path, line):
            return "\(path):\(line): the line is not a JSON object \(Self.jsonShape)"
        case let .missingText(path, line):
            return "\(path):\(line): \"text\" is missing \(Self.jsonShape)"
        case let .textNotString(path, line, found):
            return "\(path):\(line): \"text\" is \(found), expected a string"
        case let .missingLabel(path, line):
            return "\(path):\(line): \"label\" is missing \(Self.jsonShape)"
        case let .wrongLabelType(path, line, found):
            return "\(path):\(line): \"label\" is \(found), expected a string or an integer"
        case let .emptyText(path, line):
            return "\(path):\(line): the text is empty, expected some non-whitespace text"
        case let .emptyLabel(path, line):
            return "\(path):\(line): the label is empty, expected a label such as 0, 1 or \"positive\""
        case let .missingHeader(path):
            return "\(path): the file is empty, expected a header row naming the \"text\" and \"label\" columns"
        case let .missingColumns(path, line, missing):
            let names = missing.map { "\"\($0)\"" }.joined(separator: " or ")
            return "\(path):\(line): the header has no \(names) column, expected the first row to name "
                + "the \"text\" and \"label\" columns"
        case let .duplicateColumn(path, line, name):
            return "\(path):\(line): the header names the \"\(name)\" column more than once, expected it once"
        case let .wrongFieldCount(path, line, expected, found):
            return "\(path):\(line): the record has \(found) field\(found == 1 ? "" : "s"), expected \(expected) as in the header"
        case let .unterminatedQuote(path, line):
            return "\(path):\(line): the quoted field starting here has no closing quote \(Self.quoting)"
        case let .textAfterClosingQuote(path, line):
            return "\(path):\(line): text follows a closing quote, expected a separator or the end of the line \(Self.quoting)"
        case let .noExamples(path):
            return "\(path): the file holds no examples, expected at least one labeled text"
        }
    }
}
