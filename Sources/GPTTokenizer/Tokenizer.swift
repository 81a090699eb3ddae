// The interface training, sampling and data preparation use, whatever the
// tokenizer: text in, ids out, and back. Two implementations: `CharTokenizer`
// (nanoGPT's shakespeare_char) and `BytePairTokenizer` (GPT-2 / tiktoken).
import Foundation

/// A reversible mapping between text and token ids.
public protocol Tokenizer: Sendable {
    /// Number of ids: every id is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// The id that separates documents (`<|endoftext|>`), if the vocabulary has one.
    var endOfTextID: Int? { get }
    /// A short name for logs and `meta.json` ("char", "gpt2", or a file name).
    var name: String { get }

    /// Encodes UTF-8 bytes as ordinary text (special tokens are not recognised),
    /// appending the ids to `ids`.
    func encodeOrdinary(utf8 bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) throws

    /// The bytes the ids stand for, concatenated.
    func decodeBytes(_ ids: [Int]) throws -> [UInt8]
}

extension Tokenizer {
    /// Encodes `text` as ordinary text: special tokens are not recognised.
    public func encode(_ text: String) throws -> [Int] {
        var ids: [Int] = []
        var text = text
        try text.withUTF8 { try encodeOrdinary(utf8: $0, into: &ids) }
        return ids
    }

    /// Decodes ids to text; byte sequences that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }
}
