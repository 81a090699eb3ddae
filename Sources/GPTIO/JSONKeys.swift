// JSON parsers disagree on which of two equal keys wins (Foundation takes one, Python
// the last), so our readers refuse duplicates; this finds them without parsing values.
import Foundation

/// A scan of a JSON text's top-level object keys, for the one thing JSON decoders hide: duplicates.
public enum JSONKeys {
    /// The first key that appears twice at the top level of a JSON object text, or nil.
    public static func firstDuplicateTopLevelKey(_ data: Data) -> String? {
        let bytes = [UInt8](data)
        var depth = 0, i = 0
        var seen = Set<String>()
        var expectingKey = false
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "{"): depth += 1; if depth == 1 { expectingKey = true }
            case UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expectingKey = true }
            case UInt8(ascii: "\""):
                var j = i + 1
                var raw: [UInt8] = []
                while j < bytes.count && bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") && j + 1 < bytes.count { raw.append(bytes[j]); j += 1 }
                    raw.append(bytes[j]); j += 1
                }
                if depth == 1 && expectingKey {
                    let key = (try? JSONDecoder().decode(String.self, from: Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")])))
                        ?? String(decoding: raw, as: UTF8.self)
                    if !seen.insert(key).inserted { return key }
                    expectingKey = false
                }
                i = j
            default: break
            }
            i += 1
        }
        return nil
    }
}
