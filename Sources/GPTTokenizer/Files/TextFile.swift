// Whole-file UTF-8 reads and writes for the tokenizer files, with errors that name the path.
// Reads go through GPTIO's `InputFile` (regular files only, size-capped); writes through
// `AtomicFile`, so a failed write leaves the old file and no temporary behind.
import Foundation
import GPTIO

enum TextFile {
    /// Largest tokenizer file read: o200k_base's rank file is 3.6 MB, GPT-2's vocab.json 1 MB.
    static let sizeLimit = 256 << 20

    static func readBytes(_ url: URL) throws -> Data {
        do {
            return try InputFile.read(url.path, limit: sizeLimit)
        } catch let error as FileAccessError {
            throw TokenizerError.unreadableFile(path: url.path, reason: error.reason)
        }
    }

    static func read(_ url: URL) throws -> String {
        let data = try readBytes(url)
        return try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            if let bad = UTF8Scalar.firstInvalidOffset(bytes) {
                throw TokenizerError.invalidUTF8(path: url.path, byteOffset: bad)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The lines of `text`, ending at "\n" or "\r\n". Swift's String treats "\r\n" as one
    /// Character, so splitting on "\n" alone finds no line break in a CRLF file.
    static func lines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    static func write(_ text: String, to url: URL) throws {
        do {
            try AtomicFile.write(Data(text.utf8), to: url)
        } catch let AtomicFileError.failed(_, step, code) {
            throw TokenizerError.unwritableFile(path: url.path, reason: "\(FileAccessError.words(errno: code)) (\(step) failed)")
        }
    }
}
