// Text from tokens arriving one at a time. A byte-level token may end inside a
// UTF-8 character (an emoji is often 2-3 tokens), so the decoder holds back an
// incomplete trailing sequence until the bytes that complete it arrive. Cutting
// only before a lead byte keeps the output identical to decoding all bytes at once
// (invalid bytes become U+FFFD, as `String(decoding:as:)` and tiktoken's
// `errors="replace"` do).
import Foundation

/// Turns a stream of byte chunks into text without splitting a character or losing a byte.
public struct StreamingTextDecoder {
    private var pending: [UInt8] = []

    public init() {}

    /// Adds bytes and returns the text that is now complete (possibly empty).
    public mutating func push(_ bytes: some Sequence<UInt8>) -> String {
        pending.append(contentsOf: bytes)
        let keep = Self.incompleteSuffixLength(pending)
        let ready = pending.count - keep
        guard ready > 0 else { return "" }
        let text = String(decoding: pending[..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Ends the stream: whatever is held back is decoded (as U+FFFD if incomplete).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of a trailing lead byte plus continuation bytes that could still become
    /// a valid character; 0 if the bytes end on a complete (or hopeless) sequence.
    private static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        var continuations = 0
        var i = bytes.count - 1
        while i >= 0, continuations < 3, UTF8Scalar.isContinuation(bytes[i]) {
            continuations += 1
            i -= 1
        }
        guard i >= 0 else { return 0 }
        guard let needed = UTF8Scalar.sequenceLength(lead: bytes[i]) else { return 0 }
        let available = continuations + 1
        guard available < needed else { return 0 }
        // The second byte of E0, ED, F0 and F4 has a narrower range; outside it the
        // sequence is already invalid and waiting would not change the output.
        if available >= 2 {
            let second = bytes[i + 1]
            switch bytes[i] {
            case 0xE0 where second < 0xA0, 0xED where second > 0x9F,
                 0xF0 where second < 0x90, 0xF4 where second > 0x8F:
                return 0
            default: break
            }
        }
        return available
    }
}
