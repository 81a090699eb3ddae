// Appends token ids to a train.bin / val.bin file in the chosen `TokenDType`. The ids go
// to a staging file beside the target, which `commit` renames into place: an interrupted
// or failed `gpt prepare` never leaves a half-written train.bin under the real name.
import Foundation
import GPTIO

final class TokenFileWriter: StagedTokenSink {
    let url: URL
    let dtype: TokenDType
    private let staging: URL
    private let handle: FileHandle
    private(set) var count = 0

    init(url: URL, dtype: TokenDType) throws {
        self.url = url
        self.dtype = dtype
        staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: staging.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: staging.path) else {
            throw DataError.unwritableOutput(path: url.path, reason: "cannot create the file")
        }
        self.handle = handle
    }

    /// Moves the finished file into place (call after `close`).
    func commit() throws {
        guard rename(staging.path, url.path) == 0 else {
            throw DataError.unwritableOutput(path: url.path, reason: String(cString: strerror(errno)))
        }
    }

    /// Removes the staging file of an abandoned write.
    func discard() {
        try? handle.close()
        unlink(staging.path)
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
            throw DataError.unwritableOutput(path: url.path, reason: FileAccessError.words(error))
        }
        count += ids.count
    }

    func close() throws {
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw DataError.unwritableOutput(path: url.path, reason: FileAccessError.words(error))
        }
    }
}
