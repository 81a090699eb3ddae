// HellaSwag (Zellers et al. 2019) in its official JSON Lines form: per line a context
// `ctx`, four candidate `endings` and the index of the right one in `label`. Other
// keys (ind, activity_label, ctx_a, ctx_b, split…) are ignored.
import Foundation
import GPTIO

public struct HellaSwagExample: Equatable, Sendable {
    public let context: String
    public let endings: [String]
    /// The right ending: 0 ..< endings.count.
    public let label: Int

    public init(context: String, endings: [String], label: Int) {
        self.context = context; self.endings = endings; self.label = label
    }

    /// Reads a HellaSwag file; a line that is not a valid example is refused with its number.
    public static func load(_ path: String) throws -> [HellaSwagExample] {
        let data: Data
        do { data = try InputFile.read(path) } catch {
            throw DataError.unreadableInput(path: path, reason: (error as? FileAccessError)?.reason ?? FileAccessError.words(error))
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> [HellaSwagExample] {
        var examples: [HellaSwagExample] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { !$0.isASCIIWhitespace }) else { continue }
            let number = index + 1
            func refuse(_ reason: String) -> DataError { .malformedJSONLine(path: path, line: number, reason: reason) }
            guard String(validating: line, as: UTF8.self) != nil else { throw refuse("not valid UTF-8") }
            let fields: Fields
            do { fields = try JSONDecoder().decode(Fields.self, from: Data(line)) } catch let error as Fields.Refusal {
                throw refuse(error.reason)
            } catch {
                throw refuse("not a JSON object")
            }
            guard (0..<fields.endings.count).contains(fields.label) else {
                throw refuse("\"label\" \(fields.label) is not an index of the \(fields.endings.count) endings")
            }
            examples.append(HellaSwagExample(context: fields.ctx, endings: fields.endings, label: fields.label))
        }
        guard !examples.isEmpty else { throw DataError.malformedJSONLine(path: path, line: 1, reason: "no examples in the file") }
        return examples
    }
}

/// One line's fields, each refused by name when it has the wrong type.
private struct Fields: Decodable {
    struct Refusal: Error { let reason: String }
    let ctx: String
    let endings: [String]
    let label: Int

    enum CodingKeys: String, CodingKey { case ctx, endings, label }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field<T: Decodable>(_ key: CodingKeys, _ what: String) throws -> T {
            do { return try c.decode(T.self, forKey: key) } catch {
                throw Refusal(reason: "\"\(key.rawValue)\" must be \(what)")
            }
        }
        ctx = try field(.ctx, "a string")
        endings = try field(.endings, "an array of strings")
        label = try field(.label, "an integer")
        guard endings.count >= 2 else { throw Refusal(reason: "\"endings\" must hold at least two strings") }
    }
}

private extension UInt8 {
    var isASCIIWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
