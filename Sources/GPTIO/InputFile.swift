// Whole-file reads of files a user names (tokenizer files, corpora, configs), with
// one-line errors that name the file and the cause in words. Foundation's own
// `Data(contentsOf:)` reports a directory as NSCocoaErrorDomain 256 and blocks or
// says "You don't have permission" on a FIFO or /dev/zero; here only a regular
// file is read, and its size is checked against the caller's limit first.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a file could not be read or written; `description` is one line naming the file.
public struct FileAccessError: Error, Equatable, CustomStringConvertible {
    /// The file as the user gave it.
    public let path: String
    /// What the file was meant to be ("vocabulary file", "model weights"), or "" for a plain "file".
    public let what: String
    /// The cause in words ("no such file or directory", "is a directory").
    public let reason: String
    /// Whether the failure was a write (else a read).
    public let writing: Bool

    public init(path: String, what: String = "", reason: String, writing: Bool = false) {
        self.path = path
        self.what = what
        self.reason = reason
        self.writing = writing
    }

    public var description: String {
        "cannot \(writing ? "write" : "read") \(what.isEmpty ? "" : what + " ")\(path): \(reason)"
    }

    /// `strerror` in lower case, to sit inside a sentence: ENOSPC → "no space left on device".
    /// A Foundation file error in the words of its POSIX cause ("no space left on device"), not
    /// Foundation's sentence about it; other errors as they describe themselves.
    public static func words(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return words(errno: Int32(ns.code)) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return words(errno: Int32(underlying.code))
        }
        switch ns.code {
        case NSFileWriteOutOfSpaceError: return words(errno: ENOSPC)
        case NSFileWriteVolumeReadOnlyError: return words(errno: EROFS)
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return words(errno: EACCES)
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return words(errno: ENOENT)
        default: return ns.localizedFailureReason ?? ns.localizedDescription
        }
    }

    public static func words(errno code: Int32) -> String {
        let text = String(cString: strerror(code))
        guard let first = text.first, text.dropFirst().first?.isLowercase ?? true else { return text }
        return first.lowercased() + text.dropFirst()
    }
}

public enum InputFile {
    /// Reads all of the regular file at `path`. Directories, FIFOs, devices and sockets
    /// are refused by kind (a FIFO is opened without blocking, so it cannot hang the
    /// read), and a file over `limit` bytes is refused before anything is allocated.
    /// `what` names the file's role in the error ("vocabulary file").
    public static func read(_ path: String, what: String = "", limit: Int = Int.max) throws -> Data {
        func failure(_ reason: String) -> FileAccessError { FileAccessError(path: path, what: what, reason: reason) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw failure(FileAccessError.words(errno: errno)) }
        defer { close(fd) }
        let size = try regularFileSize(fd, failure)
        guard size <= limit else { throw failure("it is \(size) bytes, over the limit of \(limit) bytes") }
        var data = Data(count: size)
        var filled = 0
        try data.withUnsafeMutableBytes { raw in
            while filled < size {
                let n = Glibc.read(fd, raw.baseAddress! + filled, size - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure(FileAccessError.words(errno: errno))
                }
                if n == 0 { break }   // shrank while we read: keep what is there
                filled += n
            }
        }
        if filled < size { data.count = filled }
        return data
    }

    /// `read(_:what:limit:)` for a file URL.
    public static func read(_ url: URL, what: String = "", limit: Int = Int.max) throws -> Data {
        try read(url.path, what: what, limit: limit)
    }

    /// The size of the regular file open at `fd`, or an error naming what else it is.
    static func regularFileSize(_ fd: Int32, _ failure: (String) -> FileAccessError) throws -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(FileAccessError.words(errno: errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return Int(info.st_size)
        case S_IFDIR: throw failure("it is a directory, not a file")
        case S_IFIFO: throw failure("it is a named pipe (FIFO), not a regular file")
        case S_IFCHR: throw failure("it is a character device, not a regular file")
        case S_IFBLK: throw failure("it is a block device, not a regular file")
        case S_IFSOCK: throw failure("it is a socket, not a regular file")
        default: throw failure("it is not a regular file")
        }
    }
}
