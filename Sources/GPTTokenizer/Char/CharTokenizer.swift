// Character-level tokenizer, as nanoGPT's shakespeare_char: the vocabulary is the
// sorted set of Unicode scalars of the corpus, id = position in that order.
import Foundation

/// Maps each Unicode scalar of a fixed alphabet to its index in sorted order.
public struct CharTokenizer: Tokenizer {
    /// The alphabet in id order (ascending scalar value).
    public let characters: [Unicode.Scalar]
    private let idOfASCII: [Int]            // 128 entries, -1 when absent
    private let idOfScalar: [UInt32: Int]   // the rest
    private let utf8OfID: [[UInt8]]

    public var vocabularySize: Int { characters.count }
    public var endOfTextID: Int? { nil }
    public var name: String { "char" }

    /// A tokenizer over `characters` (sorted and deduplicated here).
    public init(characters: some Sequence<Unicode.Scalar>) {
        let sorted = Array(Set(characters)).sorted { $0.value < $1.value }
        self.characters = sorted
        var ascii = [Int](repeating: -1, count: 128)
        var others: [UInt32: Int] = [:]
        for (id, scalar) in sorted.enumerated() {
            if scalar.isASCII { ascii[Int(scalar.value)] = id } else { others[scalar.value] = id }
        }
        idOfASCII = ascii
        idOfScalar = others
        utf8OfID = sorted.map { Array(String($0).utf8) }
    }

    /// Throws `invalidUTF8` for bytes that are not UTF-8 and `unknownCharacter`
    /// (with the scalar's index in the text) for a scalar outside the alphabet.
    public func encodeOrdinary(utf8 bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) throws {
        var i = 0, position = 0
        while i < bytes.count {
            guard let (value, length) = UTF8Scalar.decode(bytes, at: i) else {
                throw TokenizerError.invalidUTF8(path: "text to encode", byteOffset: i)
            }
            let id = value < 128 ? idOfASCII[Int(value)] : (idOfScalar[value] ?? -1)
            guard id >= 0 else {
                throw TokenizerError.unknownCharacter(
                    character: Unicode.Scalar(value) ?? "\u{FFFD}", position: position)
            }
            ids.append(id)
            i += length
            position += 1
        }
    }

    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, id < utf8OfID.count else {
                throw TokenizerError.unknownTokenID(id: id, vocabularySize: vocabularySize)
            }
            bytes.append(contentsOf: utf8OfID[id])
        }
        return bytes
    }
}
