// A piece of corpus text as `CorpusReader` hands it out.
import Foundation

/// Consecutive bytes of one document, cut where GPT-2 chunking is unaffected.
public struct TextSegment: Sendable {
    public var bytes: [UInt8]
    /// True for a document's first segment: a separator goes before it (if its split already has text).
    public var startsDocument: Bool
    /// True once the running text has passed the train/validation split point.
    public var isValidation: Bool
    /// The file it came from, for error messages.
    public var source: String
}
