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
// file gives a SafeTensorsError, never a crash or an out-of-bounds read.
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
    /// Largest header accepted (the reference implementation's limit).
    public static let headerLimit = 100_000_000

    public let entries: [SafeTensorsEntry]
    public let metadata: [String: String]
    private let byName: [String: Int]
    private let bytes: Data
    private let dataStart: Int

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafeTensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data)
    }

    public init(data: Data) throws {
        bytes = data
        guard data.count >= 8 else { throw SafeTensorsError.truncated(size: data.count) }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(data[data.startIndex + i]) }
        guard length <= UInt64(Self.headerLimit) else { throw SafeTensorsError.headerTooLarge(length: length, limit: Self.headerLimit) }
        guard length <= UInt64(data.count - 8) else { throw SafeTensorsError.headerBeyondFile(length: length, fileSize: data.count) }
        dataStart = 8 + Int(length)
        let header = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + dataStart))
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: header) } catch {
            throw SafeTensorsError.invalidHeader("not JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw SafeTensorsError.invalidHeader("not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [SafeTensorsEntry] = []
        let dataSize = data.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError.invalidHeader("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafeTensorsError.invalidHeader("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try Self.parseEntry(name, value, dataSize: dataSize))
        }
        entries.sort { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        for (previous, next) in zip(entries, entries.dropFirst()) where next.range.lowerBound < previous.range.upperBound {
            throw SafeTensorsError.overlapping(previous.name, next.name)
        }
        self.entries = entries
        self.metadata = metadata
        byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
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

    private func withBytes<T>(_ e: SafeTensorsEntry, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try bytes.withUnsafeBytes { all in
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
