// Whole-file UTF-8 reads and writes for the tokenizer files, with errors that name the path.
import Foundation

enum TextFile {
    static func readBytes(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: Self.reason(error))
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

    static func write(_ text: String, to url: URL) throws {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: "cannot write: \(Self.reason(error))")
        }
    }

    private static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }
}
