// A train.bin / val.bin (or an llm.c shard, after its header) opened with mmap: the
// token ids are read in place, so a corpus larger than memory costs only the pages
// training touches (nanoGPT's np.memmap).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory-mapped file of little-endian token ids.
public final class TokenFile: @unchecked Sendable {
    // @unchecked: the mapping is read-only and lives until deinit.
    public let url: URL
    public let dtype: TokenDType
    /// Number of tokens.
    public let count: Int
    /// The alignment `release` widens to: 256 KiB, a multiple of fault-around's 64 KiB and of any page size.
    static let releaseGranule = 256 << 10
    private let mapping: UnsafeRawPointer?
    private let mappedBytes: Int
    /// Bytes before the first id (0 for train.bin; an llm.c shard's 1,024-byte header).
    private let headerBytes: Int

    /// `headerBytes` are skipped; the caller has validated them (see `LLMCShard`).
    public init(url: URL, dtype: TokenDType, headerBytes: Int = 0) throws {
        self.url = url
        self.dtype = dtype
        self.headerBytes = headerBytes
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DataError.unreadableInput(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw DataError.unreadableInput(path: url.path, reason: String(cString: strerror(errno)))
        }
        let size = Int(status.st_size)
        guard size >= headerBytes else {
            throw DataError.malformedTokenFile(path: url.path, reason: "\(size) bytes is shorter than its \(headerBytes)-byte header")
        }
        guard (size - headerBytes) % dtype.byteWidth == 0 else {
            throw DataError.malformedTokenFile(
                path: url.path, reason: "\(size - headerBytes) bytes is not a whole number of \(dtype.rawValue) ids")
        }
        count = (size - headerBytes) / dtype.byteWidth
        mappedBytes = size
        if size == 0 {
            mapping = nil
        } else {
            guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
                throw DataError.unreadableInput(path: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
            }
            mapping = UnsafeRawPointer(address)
        }
    }

    deinit {
        if let mapping { munmap(UnsafeMutableRawPointer(mutating: mapping), mappedBytes) }
    }

    /// The id at `index` (0 ..< count).
    @inline(__always)
    public subscript(index: Int) -> Int {
        precondition(index >= 0 && index < count, "token index \(index) outside 0..<\(count)")
        switch dtype {
        case .uint16: return Int(UInt16(littleEndian: mapping!.loadUnaligned(fromByteOffset: headerBytes + index * 2, as: UInt16.self)))
        case .uint32: return Int(UInt32(littleEndian: mapping!.loadUnaligned(fromByteOffset: headerBytes + index * 4, as: UInt32.self)))
        }
    }

    /// Copies ids `range` into `destination` as Int32 (the model's input type).
    public func copy(_ range: Range<Int>, to destination: UnsafeMutablePointer<Int32>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside 0..<\(count)")
        guard !range.isEmpty, let base = mapping?.advanced(by: headerBytes) else { return }
        switch dtype {
        case .uint16:
            for (offset, index) in range.enumerated() {
                destination[offset] = Int32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
            }
        case .uint32:
            for (offset, index) in range.enumerated() {
                destination[offset] = Int32(truncatingIfNeeded: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            }
        }
    }

    /// The file's size in bytes (header included).
    public var byteCount: Int { mappedBytes }

    /// Drops the resident pages around ids `range` from this process's memory, as `MappedFile.release`
    /// does: a reader done with a stretch of a large corpus calls this so the mapping does not add
    /// the whole file to the process's peak memory. The range is widened to `releaseGranule`
    /// boundaries because a read fault maps more than the page it touches: Linux's fault-around
    /// maps the cached pages of the aligned 64 KiB around it (fault_around_bytes), so releasing
    /// only the touched page would leave 15 others resident at every random window.
    public func release(_ range: Range<Int>) {
        guard let mapping, !range.isEmpty else { return }
        let granule = Self.releaseGranule
        let lo = headerBytes + range.lowerBound * dtype.byteWidth, hi = headerBytes + range.upperBound * dtype.byteWidth
        let first = lo / granule * granule, last = min(mappedBytes, (hi + granule - 1) / granule * granule)
        if first < last { madvise(UnsafeMutableRawPointer(mutating: mapping + first), last - first, MADV_DONTNEED) }
    }
}
