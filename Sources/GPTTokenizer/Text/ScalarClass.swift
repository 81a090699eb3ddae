// The four character classes the GPT-2 split pattern distinguishes:
// \p{L} (general category L*), \p{N} (N*), \s (the Unicode White_Space property,
// as in the Rust `regex` crate tiktoken uses) and everything else. A byte that
// does not begin well-formed UTF-8 counts as one "other" character.
import Foundation

enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    /// Class of an ASCII byte, computed rather than looked up: a global table costs a
    /// lazy-initialisation check and array access per byte, the arithmetic does not.
    @inline(__always)
    static func ofASCII(_ byte: UInt8) -> ScalarClass {
        if (byte | 0x20) &- UInt8(ascii: "a") < 26 { return .letter }
        if byte &- UInt8(ascii: "0") < 10 { return .number }
        if byte == 0x20 || byte &- 0x09 < 5 { return .whitespace }
        return .other
    }

    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        if value < 128 { return ofASCII(UInt8(value)) }
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
