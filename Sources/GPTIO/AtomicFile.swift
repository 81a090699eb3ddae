// Crash-safe file replacement: write a temporary file beside the target, fsync it,
// rename it over the target, fsync the directory. A kill at any instant leaves
// either the old file or the new one, never a torn mix; a failed write (a full disk,
// a read-only file system) removes its temporary file and names the target and cause.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum AtomicFileError: Error, CustomStringConvertible {
    case failed(path: String, step: String, errno: Int32)
    public var description: String {
        switch self {
        case let .failed(path, step, code): return "cannot write \(path): \(FileAccessError.words(errno: code)) (\(step) failed)"
        }
    }
}

public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let path = url.path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw AtomicFileError.failed(path: path, step: "create", errno: errno) }
        var closed = false
        // Unlinking after a successful rename finds nothing; after any failure it removes the partial file.
        defer { if !closed { close(fd) }; unlink(temporary) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError.failed(path: path, step: "write", errno: errno)
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw AtomicFileError.failed(path: path, step: "fsync", errno: errno) }
        closed = true
        guard close(fd) == 0 else { throw AtomicFileError.failed(path: path, step: "close", errno: errno) }
        guard rename(temporary, path) == 0 else { throw AtomicFileError.failed(path: path, step: "rename", errno: errno) }
        let dir = open(url.deletingLastPathComponent().path, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}
