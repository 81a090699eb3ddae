// Issue 12, "Unclear messages": reading a directory, a FIFO, a character device or an
// oversized file, and failed writes, give one line naming the file and the cause
// instead of NSCocoaErrorDomain codes.
import Foundation
import XCTest
import GPTIO

final class FileAccessTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func assertRefused(_ path: String, limit: Int = .max, _ reason: String, line: UInt = #line) {
        XCTAssertThrowsError(try InputFile.read(path, what: "corpus", limit: limit), line: line) { error in
            XCTAssertEqual(error as? FileAccessError, FileAccessError(path: path, what: "corpus", reason: reason), line: line)
            XCTAssertEqual("\(error)", "cannot read corpus \(path): \(reason)", line: line)
        }
    }

    func testRegularFileIsReadWhole() throws {
        let url = directory.appendingPathComponent("a.txt")
        try Data("hello".utf8).write(to: url)
        XCTAssertEqual(try InputFile.read(url.path, what: "corpus"), Data("hello".utf8))
        XCTAssertEqual(try InputFile.read(url, limit: 5), Data("hello".utf8))
    }

    func testDirectoryIsRefusedAsADirectory() {
        assertRefused(directory.path, "it is a directory, not a file")
    }

    func testFIFOIsRefusedWithoutBlocking() {
        let path = directory.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        assertRefused(path, "it is a named pipe (FIFO), not a regular file")
    }

    func testDevZeroIsRefusedAsACharacterDevice() {
        assertRefused("/dev/zero", "it is a character device, not a regular file")
    }

    func testMissingFileIsNamedWithStrerrorWords() {
        assertRefused(directory.appendingPathComponent("nope").path, "no such file or directory")
    }

    func testFileOverTheLimitIsRefusedWithItsSize() throws {
        let url = directory.appendingPathComponent("big")
        try Data(count: 11).write(to: url)
        assertRefused(url.path, limit: 10, "it is 11 bytes, over the limit of 10 bytes")
    }

    func testErrnoWordsForFullDiskAndReadOnlyFileSystem() {
        XCTAssertEqual(FileAccessError.words(errno: ENOSPC), "no space left on device")
        XCTAssertEqual(FileAccessError.words(errno: EROFS), "read-only file system")
        XCTAssertEqual("\(AtomicFileError.failed(path: "/x/y", step: "write", errno: ENOSPC))",
                       "cannot write /x/y: no space left on device (write failed)")
    }

    func testFailedAtomicWriteNamesTheFileAndLeavesNoTemporary() throws {
        // The target is a directory, so the final rename fails after the data was written.
        let target = directory.appendingPathComponent("target")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inside"), withIntermediateDirectories: false)
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: target)) { error in
            XCTAssert("\(error)".hasPrefix("cannot write \(target.path): "), "\(error)")
            XCTAssert("\(error)".hasSuffix("(rename failed)"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["target"])
    }
}
