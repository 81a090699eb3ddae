// GPT-2's byte <-> unicode table (`bytes_to_unicode` in openai/gpt-2 encoder.py):
// printable Latin-1 bytes stand for themselves, the other 68 bytes are mapped in
// order to U+0100, U+0101, ... so every token is a printable string in vocab.json.
import Foundation

/// The reversible byte <-> character mapping of GPT-2's `vocab.json` and `merges.txt`.
public enum ByteLevelAlphabet {
    /// `characterOfByte[b]` is the character that stands for byte `b`.
    public static let characterOfByte: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
                || (0xAE...0xFF).contains(byte)
            let value: UInt32
            if printable {
                value = UInt32(byte)
            } else {
                value = next
                next += 1
            }
            table[byte] = Character(Unicode.Scalar(value)!)   // values < 0x200 are scalars
        }
        return table
    }()

    /// The 256 bytes in the order GPT-2 assigns them ranks 0..255: printable ones first.
    public static let byteOrder: [UInt8] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let rest = (0..<256).filter { !printable.contains($0) }
        return (printable + rest).map(UInt8.init)
    }()

    private static let byteOfScalar: [UInt32: UInt8] = {
        var table: [UInt32: UInt8] = [:]
        for (byte, character) in characterOfByte.enumerated() {
            table[character.unicodeScalars.first!.value] = UInt8(byte)
        }
        return table
    }()

    /// The token string for `bytes` (each byte replaced by its character).
    public static func string(for bytes: some Sequence<UInt8>) -> String {
        String(bytes.map { characterOfByte[Int($0)] })
    }

    /// The bytes a token string stands for, or nil if it has a character outside the table.
    public static func bytes(for string: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in string.unicodeScalars {
            guard let byte = byteOfScalar[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
