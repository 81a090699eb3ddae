// A read-only memory mapping of a whole regular file, unmapped when released. Pages
// are read from disk only when touched, so opening a 20 GB checkpoint costs address
// space, not memory, and a tensor read touches only its own bytes. (Foundation's
// `Data(contentsOf:options:.mappedIfSafe)` may read the file whole on Linux.)
//
// As with any mapping, a file truncated by another process while mapped makes a read
// of the lost pages fault (SIGBUS); our checkpoints are replaced by rename, never
// truncated in place, so a mapped file stays whole.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class MappedFile: @unchecked Sendable {
    // @unchecked: the mapping is read-only and immutable for the object's lifetime.

    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer
    public let path: String

    /// Maps the regular file at `path`; directories, FIFOs and devices are refused by kind.
    public init(path: String, what: String = "") throws {
        self.path = path
        func failure(_ reason: String) -> FileAccessError { FileAccessError(path: path, what: what, reason: reason) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw failure(FileAccessError.words(errno: errno)) }
        defer { close(fd) }   // the mapping outlives the descriptor
        let size = try InputFile.regularFileSize(fd, failure)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw failure("cannot map it into memory: \(FileAccessError.words(errno: errno))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops the resident pages that hold bytes offset..<offset+count (widened to whole pages) from this
    /// process's memory; touched again, they are read back from the file. A loader that is done with a
    /// tensor calls this so the mapping does not add the whole file to the process's peak memory.
    public func release(offset: Int, count: Int) {
        guard let base = bytes.baseAddress, count > 0, offset >= 0, offset + count <= bytes.count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = offset / page * page, last = min(bytes.count, (offset + count + page - 1) / page * page)
        madvise(UnsafeMutableRawPointer(mutating: base + first), last - first, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
