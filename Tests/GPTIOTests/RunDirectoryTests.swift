// The one checkpoint writer: what a save leaves behind when it fails, what it deletes when
// it succeeds, and the lock that keeps two runs out of one directory.
import Foundation
import XCTest
import GPTIO

final class RunDirectoryTests: XCTestCase {
    var url: URL!

    override func setUpWithError() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: url) }

    func contents() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() }

    struct DiskFull: Error {}

    /// A save that fails while writing (a full disk, say) leaves no staging directory, and the
    /// last good checkpoint stays linked.
    func testAFailedSaveLeavesNothingBehind() throws {
        let run = try RunDirectory(url, mode: .new)
        try run.saveCheckpoint(name: "1") { try Data("a".utf8).write(to: $0.appendingPathComponent("w")) }
        for _ in 0..<3 {
            XCTAssertThrowsError(try run.saveCheckpoint(name: "2") { _ in throw DiskFull() })
        }
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") }, ["checkpoint", "checkpoint-1"])
        XCTAssertEqual(run.target(of: "checkpoint")?.lastPathComponent, "checkpoint-1")
    }

    /// Only what the writer recorded is deleted: a user's directories named like ours survive.
    func testASaveDeletesOnlyWhatItRecorded() throws {
        let run = try RunDirectory(url, mode: .new)
        for name in ["checkpoint-backup", ".checkpoint-7.tmp-1", "checkpoint-99"] {
            try FileManager.default.createDirectory(at: url.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try run.saveCheckpoint(name: "1") { _ in }
        try run.saveCheckpoint(name: "2") { _ in }
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") },
                       [".checkpoint-7.tmp-1", "checkpoint", "checkpoint-2", "checkpoint-99", "checkpoint-backup"])
    }

    /// Checkpoints saved with `keep` survive later saves (a curve over a run's checkpoints needs
    /// them), the others are still replaced, a reopened run keeps them too, and --overwrite removes them.
    func testKeptCheckpointsSurviveLaterSavesUntilOverwrite() throws {
        do {
            let run = try RunDirectory(url, mode: .new)
            try run.saveCheckpoint(name: "1", keep: true) { _ in }
            try run.saveCheckpoint(name: "2") { _ in }
            try run.saveCheckpoint(name: "3", keep: true) { _ in }
            XCTAssertThrowsError(try run.saveCheckpoint(name: "4", keep: true) { _ in throw DiskFull() })
            try run.saveCheckpoint(name: "5") { _ in }
        }
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") }, ["checkpoint", "checkpoint-1", "checkpoint-3", "checkpoint-5"])
        do {
            let resumed = try RunDirectory(url, mode: .resume)
            try resumed.saveCheckpoint(name: "6") { _ in }
        }
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") }, ["checkpoint", "checkpoint-1", "checkpoint-3", "checkpoint-6"])
        _ = try RunDirectory(url, mode: .overwrite)
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") }, [])
    }

    /// A second holder of the directory is refused, naming the first one's PID; the lock goes with it.
    func testTheDirectoryIsLockedWhileARunHoldsIt() throws {
        var first: RunDirectory? = try RunDirectory(url, mode: .new)
        XCTAssertNotNil(first)
        XCTAssertThrowsError(try RunDirectory(url, mode: .asIs)) {
            XCTAssertEqual($0 as? RunDirectoryError, .inUse(path: self.url.path, pid: getpid()))
        }
        first = nil
        XCTAssertNoThrow(try RunDirectory(url, mode: .asIs))
    }

    /// A directory holding a run is refused for a new one, taken by --resume, and cleared by
    /// --overwrite of what gpt wrote only.
    func testModesRefuseResumeOrReplaceAnExistingRun() throws {
        do {
            let run = try RunDirectory(url, mode: .new)
            try run.saveCheckpoint(name: "3") { _ in }
            try Data("{}\n".utf8).write(to: url.appendingPathComponent("metrics.jsonl"))
        }
        try FileManager.default.createDirectory(at: url.appendingPathComponent("notes"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try RunDirectory(url, mode: .new)) {
            XCTAssertEqual($0 as? RunDirectoryError, .holdsRun(path: self.url.path, what: "a checkpoint link"))
        }
        XCTAssertEqual(try RunDirectory(url, mode: .resume).target(of: "checkpoint")?.lastPathComponent, "checkpoint-3")
        _ = try RunDirectory(url, mode: .overwrite)
        XCTAssertEqual(try contents().filter { !$0.hasPrefix(".gpt-run") }, ["notes"])
        XCTAssertThrowsError(try RunDirectory(url, mode: .resume)) {
            XCTAssertEqual($0 as? RunDirectoryError, .nothingToResume(path: self.url.path))
        }
    }
}
