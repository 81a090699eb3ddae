// The GPT-2 split pattern, hand-compiled. It matches the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// of openai/gpt-2 encoder.py and tiktoken's r50k_base, alternative by alternative,
// on UTF-8 bytes. The one subtle rule is `\s+(?!\S)`: a whitespace run followed by
// a non-space gives up its last character, so " world" keeps its space.
import Foundation

/// Splits UTF-8 text into the chunks BPE merges within (never across).
enum GPT2PreTokenizer {
    /// Calls `body` with each chunk's byte range, in order; the ranges tile `bytes`.
    @inline(__always)
    static func forEachChunk(in bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        let n = bytes.count
        var i = 0
        while i < n {
            let end = chunkEnd(in: bytes, from: i)
            body(i..<end)
            i = end
        }
    }

    /// End of the chunk that starts at `i`.
    @inline(__always)
    static func chunkEnd(in bytes: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        let n = bytes.count
        let b0 = bytes[i]
        if b0 == UInt8(ascii: "'"), let end = contractionEnd(in: bytes, from: i) { return end }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
        if b0 == 0x20, i + 1 < n {
            let (nextClass, nextLength) = classify(bytes, at: i + 1)
            if nextClass != .whitespace { return runEnd(in: bytes, from: i + 1 + nextLength, of: nextClass) }
        }
        let (firstClass, firstLength) = classify(bytes, at: i)
        if firstClass != .whitespace { return runEnd(in: bytes, from: i + firstLength, of: firstClass) }
        // `\s+(?!\S)` then `\s+`: the whole run at the end of text; else the run less
        // its last character if that leaves something; else the single character.
        var end = i + firstLength
        var lastStart = i
        while end < n {
            let (nextClass, nextLength) = classify(bytes, at: end)
            if nextClass != .whitespace { break }
            lastStart = end
            end += nextLength
        }
        if end == n || lastStart == i { return end }
        return lastStart
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (lower case only, as in the pattern).
    @inline(__always)
    private static func contractionEnd(in bytes: UnsafeBufferPointer<UInt8>, from i: Int) -> Int? {
        guard i + 1 < bytes.count else { return nil }
        switch bytes[i + 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return i + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 2 < bytes.count && bytes[i + 2] == UInt8(ascii: "e") ? i + 3 : nil
        case UInt8(ascii: "l"):
            return i + 2 < bytes.count && bytes[i + 2] == UInt8(ascii: "l") ? i + 3 : nil
        default:
            return nil
        }
    }

    /// End of the maximal run of `kind` characters starting at `i`.
    @inline(__always)
    private static func runEnd(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, of kind: ScalarClass) -> Int {
        var i = start
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            if byte < 0x80 {
                if ScalarClass.ofASCII(byte) != kind { return i }
                i += 1
            } else {
                let (nextClass, length) = classify(bytes, at: i)
                if nextClass != kind { return i }
                i += length
            }
        }
        return n
    }

    @inline(__always)
    static func classify(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (ScalarClass, Int) {
        let byte = bytes[i]
        if byte < 0x80 { return (ScalarClass.ofASCII(byte), 1) }
        guard let (value, length) = UTF8Scalar.decode(bytes, at: i) else { return (.other, 1) }
        return (ScalarClass.ofNonASCII(value), length)
    }

    /// Whether text may be cut before byte `p` without changing the chunks: the
    /// byte before is ASCII non-space and the byte at `p` is ASCII whitespace, so a
    /// chunk boundary lies at `p` and neither side's chunks look across it.
    @inline(__always)
    static func isSafeCut(_ bytes: UnsafeBufferPointer<UInt8>, at p: Int) -> Bool {
        guard p > 0, p < bytes.count else { return false }
        let before = bytes[p - 1], at = bytes[p]
        return before < 0x80 && ScalarClass.ofASCII(before) != .whitespace
            && at < 0x80 && ScalarClass.ofASCII(at) == .whitespace
    }

    /// A safe cut at or before `limit` and after `lowerBound`, searching backwards; nil if none.
    static func safeCut(in bytes: UnsafeBufferPointer<UInt8>, atOrBefore limit: Int, after lowerBound: Int) -> Int? {
        var p = min(limit, bytes.count - 1)
        while p > lowerBound {
            if isSafeCut(bytes, at: p) { return p }
            p -= 1
        }
        return nil
    }
}
