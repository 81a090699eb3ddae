// Appends token ids to a train.bin / val.bin file in the chosen `TokenDType`.
import Foundation

final class TokenFileWriter: TokenSink {
    let url: URL
    let dtype: TokenDType
    private let handle: FileHandle
    private(set) var count = 0

    init(url: URL, dtype: TokenDType) throws {
        self.url = url
        self.dtype = dtype
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: url.path) else {
            throw DataError.unwritableOutput(path: url.path, reason: "cannot create the file")
        }
        self.handle = handle
    }

    func append(_ ids: [Int]) throws {
        guard !ids.isEmpty else { return }
        let data: Data
        switch dtype {
        case .uint16: data = ids.map { UInt16(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { Data($0) }
        case .uint32: data = ids.map { UInt32(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { Data($0) }
        }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw DataError.unwritableOutput(path: url.path, reason: error.localizedDescription)
        }
        count += ids.count
    }

    func close() throws {
        do {
            try handle.close()
        } catch {
            throw DataError.unwritableOutput(path: url.path, reason: error.localizedDescription)
        }
    }
}
