// Issue 12 #11 and #12: headers with huge entry counts are refused cheaply, the file
// is memory-mapped (a large file does not become resident), and bytes past the last
// tensor are refused with their count.
import Foundation
import XCTest
import GPTIO

final class HostileSafeTensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func fileBytes(header: String, data: [UInt8] = []) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    /// Writes `header` and then extends the file to `dataBytes` of data by ftruncate (a sparse file: no disk, no memory).
    private func sparseFile(header: String, dataBytes: Int) throws -> URL {
        let url = directory.appendingPathComponent("big.safetensors")
        let head = fileBytes(header: header)
        try head.write(to: url)
        XCTAssertEqual(truncate(url.path, off_t(head.count + dataBytes)), 0)
        return url
    }

    /// Resident memory of this process in bytes, from /proc/self/statm.
    private func residentBytes() throws -> Int {
        let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return Int(fields[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testHeaderOfAMillionEmptyEntriesIsRefusedInWellUnderTwoSeconds() throws {
        var header = "{"
        var i = 0
        while header.utf8.count < 10_000_000 { header += "\"t\(i)\":{},"; i += 1 }
        header += "\"end\":{}}"
        let data = fileBytes(header: header)
        let start = Date()
        XCTAssertThrowsError(try SafeTensorsFile(data: data)) { error in
            XCTAssertEqual(error as? SafeTensorsError, .tooManyEntries(limit: SafeTensorsFile.entryLimit))
            XCTAssert("\(error)".contains("more than 100000 entries"), "\(error)")
        }
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 2, "refusing \(i) entries took \(seconds) s")
    }

    func testHeaderNestedDeeperThanTheFormatNeedsIsRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[[[[[1]]]]],"data_offsets":[0,4]}}"#
        XCTAssertThrowsError(try SafeTensorsFile(data: fileBytes(header: header, data: [0, 0, 0, 0]))) {
            XCTAssertEqual($0 as? SafeTensorsError, .nestedTooDeep(limit: 3))
        }
    }

    func testEntriesUpToTheLimitStillLoad() throws {
        // 1,000 one-float tensors: far below the limit, and the scan must not miscount
        // colons inside names.
        var writer = SafeTensorsWriter()
        for i in 0..<1_000 { writer.add("layer:\(i)", floats: [Float(i)], shape: [1]) }
        let file = try SafeTensorsFile(data: writer.serialized())
        XCTAssertEqual(file.entries.count, 1_000)
        XCTAssertEqual(try file.floats("layer:999"), [999])
    }

    func testBytesAfterTheLastTensorAreRefusedWithTheirCount() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertThrowsError(try SafeTensorsFile(data: fileBytes(header: header, data: [UInt8](repeating: 0, count: 13)))) {
            XCTAssertEqual($0 as? SafeTensorsError, .trailingBytes(count: 5, dataEnd: 8))
            XCTAssert("\($0)".contains("5 bytes after the last tensor"), "\($0)")
        }
        XCTAssertThrowsError(try SafeTensorsFile(data: fileBytes(header: "{}", data: [1]))) {
            XCTAssertEqual($0 as? SafeTensorsError, .trailingBytes(count: 1, dataEnd: 0))
        }
    }

    func testFilePaddedWithAGigabyteOfZerosIsRefusedWithoutReadingIt() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let url = try sparseFile(header: header, dataBytes: 8 + (1 << 30))
        let before = try residentBytes()
        let start = Date()
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: url)) { error in
            XCTAssertEqual(error as? SafeTensorsError, .inFile(path: url.path, .trailingBytes(count: 1 << 30, dataEnd: 8)))
            XCTAssert("\(error)".hasPrefix(url.path + ": "), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertLessThan(try residentBytes() - before, 64 << 20, "the padding was read into memory")
    }

    func testLargeTensorIsMappedNotReadAndItsBytesAreReachableInPlace() throws {
        let count = 1 << 28   // 1 GiB of F32 zeros, sparse on disk
        let header = #"{"big":{"dtype":"F32","shape":[\#(count)],"data_offsets":[0,\#(count * 4)]}}"#
        let url = try sparseFile(header: header, dataBytes: count * 4)
        let before = try residentBytes()
        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertLessThan(try residentBytes() - before, 64 << 20, "opening the file read the tensor")
        XCTAssertEqual(file["big"]?.shape, [count])
        let last = try file.withUnsafeRawBytes(of: "big") { raw -> UInt32 in
            XCTAssertEqual(raw.count, count * 4)
            return raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self)
        }
        XCTAssertEqual(last, 0)
        XCTAssertLessThan(try residentBytes() - before, 64 << 20, "touching one value read the tensor")
    }

    func testZeroCopyBytesEqualTheWrittenValues() throws {
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1.5, -2], shape: [2])
        let url = directory.appendingPathComponent("w.safetensors")
        try writer.write(to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        let values = try file.withUnsafeRawBytes(of: "w") { raw in
            (0..<2).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        XCTAssertEqual(values, [1.5, -2])
        XCTAssertEqual(try file.floats("w"), [1.5, -2])
        XCTAssertThrowsError(try file.withUnsafeRawBytes(of: "nope") { _ in () }) {
            XCTAssertEqual($0 as? SafeTensorsError, .missingTensor("nope"))
        }
    }

    func testDirectoryAsSafeTensorsFileIsNamedAsADirectory() {
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: directory)) {
            XCTAssertEqual($0 as? SafeTensorsError, .unreadable(path: directory.path, reason: "it is a directory, not a file"))
        }
    }
}
