// Where a long text may be cut so that each piece splits into exactly the chunks
// the whole text would: the basis for streaming and parallel encoding and counting.
import Foundation

/// Cut points for GPT-2-pattern text.
public enum GPT2TextSplitter {
    /// The largest cut point in `(lowerBound, limit]`, or nil if there is none:
    /// the byte before it is ASCII non-whitespace and the byte at it ASCII whitespace.
    public static func safeCut(in bytes: UnsafeBufferPointer<UInt8>, atOrBefore limit: Int, after lowerBound: Int) -> Int? {
        GPT2PreTokenizer.safeCut(in: bytes, atOrBefore: limit, after: lowerBound)
    }

    /// Cuts `bytes` into about `count` ranges (at least 64 KiB each) at safe cut points;
    /// the ranges tile `bytes` in order.
    public static func segments(of bytes: UnsafeBufferPointer<UInt8>, count: Int) -> [Range<Int>] {
        let minimumLength = 1 << 16   // below this, threads cost more than they save
        let target = max(minimumLength, bytes.count / max(1, count))
        var ranges: [Range<Int>] = []
        var start = 0
        while bytes.count - start > target + minimumLength {
            // No safe point (a huge run without ASCII whitespace): the rest stays one segment.
            guard let cut = GPT2PreTokenizer.safeCut(in: bytes, atOrBefore: start + target, after: start)
            else { break }
            ranges.append(start..<cut)
            start = cut
        }
        ranges.append(start..<bytes.count)
        return ranges
    }
}
