// Strict UTF-8 decoding of one scalar at a byte offset (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF). The byte-level tokenizers must
// accept any bytes, so a bad sequence is reported, not repaired.
import Foundation

enum UTF8Scalar {
    /// The scalar starting at `i` and its length in bytes, or nil when the bytes
    /// at `i` do not begin a well-formed sequence.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (value: UInt32, length: Int)? {
        let b0 = bytes[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let remaining = bytes.count - i
        switch b0 {
        case 0xC2...0xDF:
            guard remaining >= 2, isContinuation(bytes[i + 1]) else { return nil }
            return ((UInt32(b0 & 0x1F) << 6) | UInt32(bytes[i + 1] & 0x3F), 2)
        case 0xE0...0xEF:
            guard remaining >= 3 else { return nil }
            let b1 = bytes[i + 1], b2 = bytes[i + 2]
            // E0 needs A0..BF (else overlong); ED needs 80..9F (else a surrogate).
            let lower: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
            let upper: UInt8 = b0 == 0xED ? 0x9F : 0xBF
            guard b1 >= lower, b1 <= upper, isContinuation(b2) else { return nil }
            return ((UInt32(b0 & 0x0F) << 12) | (UInt32(b1 & 0x3F) << 6) | UInt32(b2 & 0x3F), 3)
        case 0xF0...0xF4:
            guard remaining >= 4 else { return nil }
            let b1 = bytes[i + 1], b2 = bytes[i + 2], b3 = bytes[i + 3]
            // F0 needs 90..BF (else overlong); F4 needs 80..8F (else above U+10FFFF).
            let lower: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
            let upper: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
            guard b1 >= lower, b1 <= upper, isContinuation(b2), isContinuation(b3) else { return nil }
            let value = (UInt32(b0 & 0x07) << 18) | (UInt32(b1 & 0x3F) << 12)
                | (UInt32(b2 & 0x3F) << 6) | UInt32(b3 & 0x3F)
            return (value, 4)
        default:
            return nil
        }
    }

    /// Length of the sequence a lead byte starts (2, 3 or 4), or nil for ASCII,
    /// continuation bytes and bytes that never begin valid UTF-8.
    static func sequenceLength(lead byte: UInt8) -> Int? {
        switch byte {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return nil
        }
    }

    @inline(__always)
    static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    /// Offset of the first byte that does not begin a well-formed sequence, or nil if all is valid.
    static func firstInvalidOffset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        while i < bytes.count {
            guard let (_, length) = decode(bytes, at: i) else { return i }
            i += length
        }
        return nil
    }
}
