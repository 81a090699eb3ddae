// Writer for the safetensors format (layout documented in SafeTensors.swift).
// Tensors are written in the order added, each 8-byte aligned as the reference
// implementation does (the header is padded with spaces to a multiple of 8).
import Foundation

public struct SafeTensorsWriter {
    private var header: [(String, SafeTensorsDType, [Int], Range<Int>)] = []
    private var body = Data()
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, floats: UnsafeBufferPointer<Float>, shape: [Int]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not match \(floats.count) values of '\(name)'")
        let start = body.count
        body.reserveCapacity(start + floats.count * 4)
        for x in floats { withUnsafeBytes(of: x.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        header.append((name, .f32, shape, start..<body.count))
    }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        floats.withUnsafeBufferPointer { add(name, floats: $0, shape: shape) }
    }

    /// Adds a tensor already encoded in `dtype` (little-endian, row-major): 16-bit floats, bytes, ….
    /// No padding follows it (the format wants the tensors back to back), so later ones may be unaligned.
    public mutating func add(_ name: String, bytes: UnsafeRawBufferPointer, dtype: SafeTensorsDType, shape: [Int]) {
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "shape \(shape) does not match \(bytes.count) bytes of '\(name)'")
        let start = body.count
        body.append(contentsOf: bytes)
        header.append((name, dtype, shape, start..<(start + bytes.count)))
    }

    public mutating func add(_ name: String, int64s: [Int], shape: [Int]) {
        precondition(shape.reduce(1, *) == int64s.count, "shape \(shape) does not match \(int64s.count) values of '\(name)'")
        let start = body.count
        for x in int64s { withUnsafeBytes(of: Int64(x).littleEndian) { body.append(contentsOf: $0) } }
        header.append((name, .i64, shape, start..<body.count))
    }

    /// The complete file.
    public func serialized() -> Data {
        var object: [String: Any] = [:]
        for (name, dtype, shape, range) in header {
            object[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [range.lowerBound, range.upperBound]]
        }
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        var json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + body.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Writes the file atomically (see `AtomicFile`).
    public func write(to url: URL) throws {
        try AtomicFile.write(serialized(), to: url)
    }
}
