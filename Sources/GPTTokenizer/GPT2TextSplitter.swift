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
}
