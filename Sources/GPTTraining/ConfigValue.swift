// A value given for a config field: text from `--set key=value`, or a typed value from a
// config file (JSON, or TOML converted to JSON). Keeping the JSON type lets a field refuse
// `{"n_layer": true}` or `32.5` by name instead of coercing it.
import Foundation
import GPTIO

public enum ConfigValue: Sendable, CustomStringConvertible {
    case text(String)
    case bool(Bool)
    case integer(Int)
    case unsigned(UInt64)
    case number(Double)
    /// null, an array or an object: never a field's value.
    case unsupported(String)

    public var description: String {
        switch self {
        case let .text(s): return s
        case let .bool(b): return "\(b)"
        case let .integer(i): return "\(i)"
        case let .unsigned(u): return "\(u)"
        case let .number(d): return "\(d)"
        case let .unsupported(what): return what
        }
    }
}

extension ConfigValue: Decodable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .unsupported("null"); return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int.self) { self = .integer(i); return }
        if let u = try? c.decode(UInt64.self) { self = .unsigned(u); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .text(s); return }
        self = .unsupported("an array or object")
    }

    /// The top-level object of a JSON config file, refusing duplicate keys (JSON parsers
    /// disagree on which one wins, so neither is taken).
    public static func object(json data: Data, source: String) throws -> [(key: String, value: ConfigValue)] {
        if let duplicate = JSONKeys.firstDuplicateTopLevelKey(data) {
            throw TrainingConfigError.unreadable(source, "the key '\(duplicate)' appears more than once")
        }
        let object: [String: ConfigValue]
        do { object = try JSONDecoder().decode([String: ConfigValue].self, from: data) } catch {
            let isObject = (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
            throw TrainingConfigError.unreadable(source, isObject ? "a value could not be read" : "not a JSON object")
        }
        return object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
