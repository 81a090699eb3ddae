// Reader for the safetensors format (https://github.com/huggingface/safetensors):
//
//   bytes 0..<8     N, the header length, unsigned 64-bit little-endian
//   bytes 8..<8+N   a JSON object: for each tensor name, {"dtype": "F32", "shape": [2, 3],
//                   "data_offsets": [begin, end]} with offsets relative to the data section;
//                   optionally "__metadata__": {string: string}
//   bytes 8+N...    the data section: each tensor's bytes, little-endian, row-major
//
// Every field is checked before it is used (header length, JSON, dtype, shape × dtype
// size = byte span, spans inside the file and disjoint), so a truncated or hostile
// file gives a SafeTensorsError, never a crash or an out-of-bounds read. Before the
// JSON is parsed, one pass over its bytes counts the top-level entries and the
// nesting depth, so a header of millions of empty entries is refused without building
// an object per entry. Bytes after the last tensor's end are refused: no writer we
// know leaves them (the reference requires the tensors to fill the data section), and
// a file padded to 20 GB must not be accepted, let alone read.
//
// `init(contentsOf:)` memory-maps the file (see `MappedFile`): nothing but the header
// is read until a tensor is asked for, and `withUnsafeRawBytes(of:)` hands out a
// tensor's bytes in place.
import Foundation

public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case truncated(size: Int)
    case headerTooLarge(length: UInt64, limit: Int)
    case headerBeyondFile(length: UInt64, fileSize: Int)
    case invalidHeader(String)
    case invalidEntry(tensor: String, reason: String)
    case unknownDType(tensor: String, dtype: String)
    case sizeMismatch(tensor: String, shape: [Int], dtype: String, bytes: Int)
    case outOfRange(tensor: String, end: Int, dataSize: Int)
    case overlapping(String, String)
    case missingTensor(String)
    case unsupportedConversion(tensor: String, dtype: String, to: String)
    case tooManyEntries(limit: Int)
    case nestedTooDeep(limit: Int)
    case trailingBytes(count: Int, dataEnd: Int)
    /// Any of the above, found in the file at `path`.
    indirect case inFile(path: String, SafeTensorsError)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read safetensors file \(path): \(reason)"
        case let .truncated(size): return "safetensors file too short (\(size) bytes): no 8-byte header length"
        case let .headerTooLarge(length, limit): return "safetensors header length \(length) exceeds the limit of \(limit) bytes"
        case let .headerBeyondFile(length, size): return "safetensors header length \(length) runs past the end of the \(size)-byte file"
        case let .invalidHeader(reason): return "safetensors header is not valid: \(reason)"
        case let .invalidEntry(tensor, reason): return "safetensors tensor '\(tensor)': \(reason)"
        case let .unknownDType(tensor, dtype): return "safetensors tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case let .sizeMismatch(tensor, shape, dtype, bytes):
            return "safetensors tensor '\(tensor)': shape \(shape) of \(dtype) does not fill its \(bytes) bytes"
        case let .outOfRange(tensor, end, size):
            return "safetensors tensor '\(tensor)' ends at byte \(end), beyond the \(size)-byte data section"
        case let .overlapping(a, b): return "safetensors tensors '\(a)' and '\(b)' overlap"
        case let .missingTensor(name): return "safetensors file has no tensor '\(name)'"
        case let .unsupportedConversion(tensor, dtype, to): return "safetensors tensor '\(tensor)' is \(dtype), cannot be read as \(to)"
        case let .tooManyEntries(limit):
            return "safetensors header has more than \(limit) entries (the limit; GPT-2 XL has under 600)"
        case let .nestedTooDeep(limit):
            return "safetensors header nests deeper than \(limit) levels (entries are objects holding lists)"
        case let .trailingBytes(count, end):
            return "safetensors file has \(count) bytes after the last tensor's end (byte \(end) of the data section)"
        case let .inFile(path, error): return "\(path): \(error)"
        }
    }
}

public struct SafeTensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range within the data section.
    public let range: Range<Int>
    public var count: Int { shape.reduce(1, *) }
}

public struct SafeTensorsFile: @unchecked Sendable {
    // @unchecked: every stored property is immutable; the mapping is read-only.

    /// Largest header accepted (the reference implementation's limit).
    public static let headerLimit = 100_000_000
    /// Most tensors (plus `__metadata__`) a header may list. GPT-2 XL has under 600 and
    /// the largest public checkpoints a few thousand per shard; 100,000 keeps parsing
    /// a hostile header to a few hundred milliseconds and bounded memory.
    public static let entryLimit = 100_000
    /// Deepest JSON nesting a valid header needs: the header object, an entry object, its lists.
    public static let depthLimit = 3

    public let entries: [SafeTensorsEntry]
    public let metadata: [String: String]
    private let byName: [String: Int]
    private let storage: Storage
    private let dataStart: Int

    /// Where the bytes live: a caller's `Data`, or a read-only mapping of the file.
    private enum Storage {
        case data(Data)
        case mapped(MappedFile)

        func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            switch self {
            case let .data(data): return try data.withUnsafeBytes(body)
            case let .mapped(file): return try body(file.bytes)
            }
        }
    }

    /// Memory-maps the file at `url`: only the header is read now, each tensor's pages
    /// when it is asked for. Errors name the file.
    public init(contentsOf url: URL) throws {
        let file: MappedFile
        do { file = try MappedFile(path: url.path, what: "safetensors file") } catch let error as FileAccessError {
            throw SafeTensorsError.unreadable(path: url.path, reason: error.reason)
        }
        do { try self.init(storage: .mapped(file)) } catch let error as SafeTensorsError {
            throw SafeTensorsError.inFile(path: url.path, error)
        }
    }

    public init(data: Data) throws {
        try self.init(storage: .data(data))
    }

    private init(storage: Storage) throws {
        self.storage = storage
        (entries, metadata, dataStart) = try storage.withBytes(Self.parse)
        byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    private static func parse(_ file: UnsafeRawBufferPointer) throws -> ([SafeTensorsEntry], [String: String], Int) {
        guard file.count >= 8 else { throw SafeTensorsError.truncated(size: file.count) }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(file[i]) }
        guard length <= UInt64(headerLimit) else { throw SafeTensorsError.headerTooLarge(length: length, limit: headerLimit) }
        guard length <= UInt64(file.count - 8) else { throw SafeTensorsError.headerBeyondFile(length: length, fileSize: file.count) }
        let dataStart = 8 + Int(length)
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<dataStart])
        try checkShape(headerBytes)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(headerBytes)) } catch {
            throw SafeTensorsError.invalidHeader("not JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw SafeTensorsError.invalidHeader("not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [SafeTensorsEntry] = []
        let dataSize = file.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError.invalidHeader("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafeTensorsError.invalidHeader("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try parseEntry(name, value, dataSize: dataSize))
        }
        entries.sort { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        for (previous, next) in zip(entries, entries.dropFirst()) where next.range.lowerBound < previous.range.upperBound {
            throw SafeTensorsError.overlapping(previous.name, next.name)
        }
        let dataEnd = entries.map(\.range.upperBound).max() ?? 0
        guard dataEnd == dataSize else { throw SafeTensorsError.trailingBytes(count: dataSize - dataEnd, dataEnd: dataEnd) }
        return (entries, metadata, dataStart)
    }

    /// One pass over the header's bytes, before any JSON object is built: refuses more
    /// than `entryLimit` top-level members (counted by their ':' at depth 1) and nesting
    /// deeper than `depthLimit`. Malformed JSON passes through to the parser's own error.
    private static func checkShape(_ header: UnsafeRawBufferPointer) throws {
        var depth = 0, members = 0
        var inString = false, escaped = false
        for byte in header {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= depthLimit else { throw SafeTensorsError.nestedTooDeep(limit: depthLimit) }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ":") where depth == 1:
                members += 1
                guard members <= entryLimit else { throw SafeTensorsError.tooManyEntries(limit: entryLimit) }
            default: break
            }
        }
    }

    private static func parseEntry(_ name: String, _ value: Any, dataSize: Int) throws -> SafeTensorsEntry {
        guard let fields = value as? [String: Any] else { throw SafeTensorsError.invalidEntry(tensor: name, reason: "not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw SafeTensorsError.invalidEntry(tensor: name, reason: "no dtype") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw SafeTensorsError.unknownDType(tensor: name, dtype: dtypeName) }
        guard let shapeValues = fields["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
            throw SafeTensorsError.invalidEntry(tensor: name, reason: "shape is not a list of non-negative integers")
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2,
              offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw SafeTensorsError.invalidEntry(tensor: name, reason: "data_offsets is not [begin, end] with 0 ≤ begin ≤ end")
        }
        guard offsets[1] <= dataSize else { throw SafeTensorsError.outOfRange(tensor: name, end: offsets[1], dataSize: dataSize) }
        var bytes = dtype.byteSize
        for d in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow else { throw SafeTensorsError.sizeMismatch(tensor: name, shape: shape, dtype: dtypeName, bytes: offsets[1] - offsets[0]) }
            bytes = product
        }
        guard bytes == offsets[1] - offsets[0] else {
            throw SafeTensorsError.sizeMismatch(tensor: name, shape: shape, dtype: dtypeName, bytes: offsets[1] - offsets[0])
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    /// JSON numbers that are exact integers, or nil.
    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard let n = v as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d == d.rounded(), d.magnitude < 9e15 else { return nil }
            out.append(Int(d))
        }
        return out
    }

    public subscript(name: String) -> SafeTensorsEntry? { byName[name].map { entries[$0] } }

    /// The tensor's values as Float, converting F16, BF16 and F64.
    public func floats(_ name: String) throws -> [Float] {
        guard let e = self[name] else { throw SafeTensorsError.missingTensor(name) }
        return try withBytes(e) { raw in
            switch e.dtype {
            case .f32: return (0..<e.count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
            case .f64: return (0..<e.count).map { Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian)) }
            case .f16: return (0..<e.count).map { Self.halfToFloat(raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self).littleEndian) }
            case .bf16: return (0..<e.count).map { Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self).littleEndian) << 16) }
            default: throw SafeTensorsError.unsupportedConversion(tensor: name, dtype: e.dtype.rawValue, to: "float")
            }
        }
    }

    /// The tensor's values as Int, from I64, I32, I16, I8 or U8.
    public func integers(_ name: String) throws -> [Int] {
        guard let e = self[name] else { throw SafeTensorsError.missingTensor(name) }
        return try withBytes(e) { raw in
            switch e.dtype {
            case .i64: return (0..<e.count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .i32: return (0..<e.count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .i16: return (0..<e.count).map { Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
            case .i8: return (0..<e.count).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
            case .u8: return (0..<e.count).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
            default: throw SafeTensorsError.unsupportedConversion(tensor: name, dtype: e.dtype.rawValue, to: "integer")
            }
        }
    }

    /// Calls `body` with tensor `name`'s bytes in place (little-endian, row-major, `entry.dtype`),
    /// without copying: a mapped file's pages are read as `body` touches them. The pointer
    /// is valid only inside `body`.
    public func withUnsafeRawBytes<T>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard let e = self[name] else { throw SafeTensorsError.missingTensor(name) }
        return try withBytes(e, body)
    }

    /// Drops a mapped file's resident pages of tensor `name` (see `MappedFile.release`): a loader done with
    /// a tensor calls this so that reading a checkpoint does not keep all of it in memory. No effect on `Data`.
    public func releasePages(of name: String) {
        guard let e = self[name], case let .mapped(file) = storage else { return }
        file.release(offset: dataStart + e.range.lowerBound, count: e.range.count)
    }

    private func withBytes<T>(_ e: SafeTensorsEntry, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try storage.withBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[(dataStart + e.range.lowerBound)..<(dataStart + e.range.upperBound)]))
        }
    }

    /// IEEE 754 binary16 → binary32, subnormals, infinities and NaN included.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F), mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
