import Foundation
import XCTest
import GPTKernels
import GPTIO

final class SafeTensorsTests: XCTestCase {
    /// A file with the given raw header JSON and data section.
    func file(header: String, data: [UInt8] = []) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    func assertRejects(_ data: Data, _ expected: (SafeTensorsError) -> Bool, _ what: String, line: UInt = #line) {
        do {
            _ = try SafeTensorsFile(data: data)
            XCTFail("\(what): accepted", line: line)
        } catch let error as SafeTensorsError {
            XCTAssert(expected(error), "\(what): wrong error \(error)", line: line)
            XCTAssertFalse(error.description.isEmpty)
        } catch {
            XCTFail("\(what): untyped error \(error)", line: line)
        }
    }

    func testWrittenFileReadsBackWithMetadata() throws {
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt"]
        writer.add("a", floats: [1, -2.5, 3e-8], shape: [3])
        writer.add("ids", int64s: [7, -1, 50256, 0], shape: [2, 2])
        writer.add("empty", floats: [], shape: [0, 4])
        let data = writer.serialized()
        XCTAssertEqual(Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) % 8, 0, "header padded to 8 bytes")
        let file = try SafeTensorsFile(data: data)
        XCTAssertEqual(try file.floats("a"), [1, -2.5, 3e-8])
        XCTAssertEqual(try file.integers("ids"), [7, -1, 50256, 0])
        XCTAssertEqual(file["ids"]?.shape, [2, 2])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertThrowsError(try file.floats("missing")) { XCTAssertEqual($0 as? SafeTensorsError, .missingTensor("missing")) }
        XCTAssertThrowsError(try file.floats("ids")) { XCTAssertEqual($0 as? SafeTensorsError, .unsupportedConversion(tensor: "ids", dtype: "I64", to: "float")) }
    }

    func testHalfAndBFloat16AreConvertedToFloat() throws {
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal = 0x0001, +inf = 0x7C00.
        // BF16: 1.0 = 0x3F80, -3.0 = 0xC040.
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00]
        let bf16: [UInt16] = [0x3F80, 0xC040]
        var bytes: [UInt8] = []
        for h in f16 + bf16 { bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        let header = #"{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]}}"#
        let file = try SafeTensorsFile(data: file(header: header, data: bytes))
        XCTAssertEqual(try file.floats("h"), [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        XCTAssertEqual(try file.floats("b"), [1, -3])
    }

    func testTruncatedFileIsRejected() {
        assertRejects(Data([1, 2, 3]), { if case .truncated = $0 { return true }; return false }, "3-byte file")
        let good = file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
        assertRejects(good.prefix(good.count - 1), { if case .outOfRange = $0 { return true }; return false }, "missing last byte")
        assertRejects(good.prefix(20), { if case .headerBeyondFile = $0 { return true }; return false }, "cut inside header")
    }

    func testHeaderLengthLargerThanFileIsRejected() {
        var data = Data()
        withUnsafeBytes(of: UInt64(1_000).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data("{}".utf8))
        assertRejects(data, { if case .headerBeyondFile = $0 { return true }; return false }, "header length 1000")
        var huge = Data()
        withUnsafeBytes(of: UInt64.max.littleEndian) { huge.append(contentsOf: $0) }
        assertRejects(huge, { if case .headerTooLarge = $0 { return true }; return false }, "header length 2^64-1")
    }

    func testOffsetsOutOfRangeAreRejected() {
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 8)),
                      { if case .outOfRange(tensor: "a", end: 16, dataSize: 8) = $0 { return true }; return false }, "end past data")
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: Array(repeating: 0, count: 8)),
                      { if case .invalidEntry = $0 { return true }; return false }, "begin > end")
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: Array(repeating: 0, count: 8)),
                      { if case .invalidEntry = $0 { return true }; return false }, "negative offset")
    }

    func testUnknownDTypeIsRejected() {
        assertRejects(file(header: #"{"a":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
                      { $0 == .unknownDType(tensor: "a", dtype: "F8_E9M9") }, "unknown dtype")
    }

    func testShapeThatDoesNotFillItsBytesIsRejected() {
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                      { if case .sizeMismatch = $0 { return true }; return false }, "3 floats in 8 bytes")
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[4000000000000000,4000],"data_offsets":[0,0]}}"#),
                      { if case .sizeMismatch = $0 { return true }; return false }, "overflowing shape")
        assertRejects(file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#),
                      { if case .invalidEntry = $0 { return true }; return false }, "negative dimension")
    }

    func testOverlappingTensorsAreRejected() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertRejects(file(header: header, data: Array(repeating: 0, count: 12)),
                      { if case .overlapping = $0 { return true }; return false }, "overlap")
    }

    func testMalformedHeadersAreRejected() {
        for header in ["{", "[1,2]", "not json", #"{"a": 3}"#, #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#,
                       #"{"a":{"dtype":"F32","shape":"x","data_offsets":[0,4]}}"#, #"{"__metadata__":{"k":1}}"#,
                       #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#] {
            assertRejects(file(header: header, data: [0, 0, 0, 0]), { _ in true }, "header \(header)")
        }
    }

    /// Random corruptions of a valid file: every one either parses or throws a typed error.
    func testRandomCorruptionsNeverCrash() {
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        writer.add("t", int64s: [1, 2], shape: [2])
        let valid = [UInt8](writer.serialized())
        var rng = SplitMix64(seed: 12345)
        func next() -> Int { Int(rng.next() >> 33) }
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(next() % 256) }
            if next() % 5 == 0 { bytes = Array(bytes.prefix(next() % bytes.count)) }
            do {
                let file = try SafeTensorsFile(data: Data(bytes))
                for e in file.entries { _ = try? file.floats(e.name); _ = try? file.integers(e.name) }
            } catch is SafeTensorsError {
            } catch {
                XCTFail("untyped error \(error)")
            }
        }
    }

    func testAtomicWriteReplacesFileAndLeavesNoTemporary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.bin")
        try AtomicFile.write(Data("old".utf8), to: url)
        try AtomicFile.write(Data("new".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("new".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["x.bin"])
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: dir.appendingPathComponent("no/such/dir/file"))) {
            XCTAssert("\($0)".contains("no/such/dir/file"))
        }
    }
}
