// One row of the configuration table: a field's key (as users write it in config files
// and `--set`), what it means, the values it takes, whether it changes the model's shape,
// and how it is read and written. Parsing, the resolved config.json, the resume check,
// fine-tuning's shape guard and the help text all come from the one table,
// `TrainingConfig.fields`.
import Foundation

public struct ConfigField: Sendable {
    public let key: String
    public let meaning: String
    /// What values are allowed, in words ("an integer in 1...1024").
    public let allowed: String
    /// A field of the model's shape, which a checkpoint fixes.
    public let changesShape: Bool
    let read: @Sendable (inout TrainingConfig, ConfigValue) throws -> Void
    /// The resolved value (nil: the field only sets others, like `dropout`).
    let write: @Sendable (TrainingConfig) -> Any?

    public func value(in config: TrainingConfig) -> Any? { write(config) }

    func invalid(_ value: ConfigValue) -> TrainingConfigError { .invalid(key, "\(value)", allowed) }

    static func integer(_ key: String, _ path: WritableKeyPath<TrainingConfig, Int>, _ range: ClosedRange<Int>,
                        shape: Bool = false, _ meaning: String) -> ConfigField {
        let allowed = "an integer in \(range)"
        return ConfigField(key: key, meaning: meaning, allowed: allowed, changesShape: shape, read: { config, value in
            guard let v = integerValue(value), range.contains(v) else { throw TrainingConfigError.invalid(key, "\(value)", allowed) }
            config[keyPath: path] = v
        }, write: { $0[keyPath: path] })
    }

    static func number(_ key: String, _ path: WritableKeyPath<TrainingConfig, Float>, _ allowed: String,
                       _ ok: @escaping @Sendable (Float) -> Bool, _ meaning: String) -> ConfigField {
        ConfigField(key: key, meaning: meaning, allowed: allowed, changesShape: false, read: { config, value in
            guard let v = floatValue(value), v.isFinite, ok(v) else { throw TrainingConfigError.invalid(key, "\(value)", allowed) }
            config[keyPath: path] = v
        }, write: { shortest($0[keyPath: path]) })
    }

    static func choice<T: Sendable & Equatable>(_ key: String, _ path: WritableKeyPath<TrainingConfig, T>, _ names: KeyValuePairs<String, T>,
                                                shape: Bool = true, _ meaning: String) -> ConfigField {
        let options = names.map(\.key)
        let allowed = options.dropLast().joined(separator: ", ") + (options.count > 1 ? " or " : "") + (options.last ?? "")
        let table = Array(names)
        return ConfigField(key: key, meaning: meaning, allowed: allowed, changesShape: shape, read: { config, value in
            guard case let .text(text) = value, let match = table.first(where: { $0.key == text }) else {
                throw TrainingConfigError.invalid(key, "\(value)", allowed)
            }
            config[keyPath: path] = match.value
        }, write: { config in table.first { $0.value == config[keyPath: path] }?.key })
    }

    /// Integers from text or JSON integers (never booleans or fractions).
    static func integerValue(_ value: ConfigValue) -> Int? {
        switch value {
        case let .integer(i): return i
        case let .text(s): return Int(s)
        default: return nil
        }
    }

    static func floatValue(_ value: ConfigValue) -> Float? {
        switch value {
        case let .integer(i): return Float(i)
        case let .number(d): return Float(d)
        case let .text(s): return Float(s)
        default: return nil
        }
    }

    /// A Float as the shortest decimal that reads back to it (0.9, not 0.8999999761581421).
    static func shortest(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
}
