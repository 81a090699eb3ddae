// The element type of train.bin / val.bin: nanoGPT's layout (raw little-endian
// ids, no header) with uint16 when every id fits, else uint32.
import Foundation

public enum TokenDType: String, Codable, Sendable {
    case uint16, uint32

    /// The smallest type that holds ids `0..<vocabularySize`.
    public init(vocabularySize: Int) {
        self = vocabularySize <= Int(UInt16.max) + 1 ? .uint16 : .uint32
    }

    public var byteWidth: Int { self == .uint16 ? 2 : 4 }
}
