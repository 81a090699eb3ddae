// The four character classes the GPT-2 split pattern distinguishes:
// \p{L} (general category L*), \p{N} (N*), \s (the Unicode White_Space property,
// as in the Rust `regex` crate tiktoken uses) and everything else. A byte that
// does not begin well-formed UTF-8 counts as one "other" character.
import Foundation

enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    /// Classes of the 128 ASCII bytes, so plain English never touches the Unicode tables.
    static let ofASCII: [ScalarClass] = (0..<128).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }

    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        if value < 128 { return ofASCII[Int(value)] }
        return ofNonASCII(value)
    }

    static func ofNonASCII(_ value: UInt32) -> ScalarClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
