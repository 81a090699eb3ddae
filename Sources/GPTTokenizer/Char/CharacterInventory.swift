// Streaming collection of a corpus's alphabet for `CharTokenizer`: text arrives in
// pieces of any size, so a scalar split across two pieces is carried over.
import Foundation

/// Accumulates the distinct Unicode scalars of UTF-8 text fed piece by piece.
public struct CharacterInventory {
    private var seen = Set<UInt32>()
    private var carry: [UInt8] = []     // an incomplete scalar at the end of the last piece
    private var offset = 0              // bytes consumed so far, for error positions
    /// Names the input being read in error messages (a path); set it before each file.
    public var source: String

    public init(source: String = "text") { self.source = source }

    /// Adds the scalars of the next piece; throws `invalidUTF8` at the first bad byte.
    public mutating func add(_ piece: UnsafeBufferPointer<UInt8>) throws {
        var bytes = carry
        bytes.append(contentsOf: piece)
        carry.removeAll(keepingCapacity: true)
        try bytes.withUnsafeBufferPointer { buffer in
            var i = 0
            while i < buffer.count {
                if let (value, length) = UTF8Scalar.decode(buffer, at: i) {
                    seen.insert(value)
                    i += length
                } else if buffer.count - i < 4, Self.couldBeIncomplete(buffer, from: i) {
                    carry.append(contentsOf: buffer[i...])
                    break
                } else {
                    throw TokenizerError.invalidUTF8(path: source, byteOffset: offset + i)
                }
            }
            offset += buffer.count - carry.count
        }
    }

    /// Ends the current input: a dangling partial scalar is an error.
    public mutating func finishSource() throws {
        if !carry.isEmpty { throw TokenizerError.invalidUTF8(path: source, byteOffset: offset) }
        offset = 0
    }

    /// The scalars seen so far, in ascending order.
    public var scalars: [Unicode.Scalar] {
        seen.sorted().compactMap(Unicode.Scalar.init)
    }

    /// A lead byte followed only by continuation bytes, fewer than it needs.
    private static func couldBeIncomplete(_ buffer: UnsafeBufferPointer<UInt8>, from i: Int) -> Bool {
        guard let needed = UTF8Scalar.sequenceLength(lead: buffer[i]) else { return false }
        let available = buffer.count - i
        return available < needed && buffer[(i + 1)...].allSatisfy(UTF8Scalar.isContinuation)
    }
}
