// The memory-mapped reader and random batches: y is x shifted by one, batches are
// reproducible from the seed, and restoring the generator state resumes exactly.
import Foundation
import XCTest
import GPTKernels
import GPTData

final class BatchSamplerTests: XCTestCase {
    private func tokenFile(_ ids: [UInt32], dtype: TokenDType) throws -> TokenFile {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString).bin")
        let data: Data = dtype == .uint16
            ? ids.map { UInt16($0).littleEndian }.withUnsafeBytes { Data($0) }
            : ids.map { $0.littleEndian }.withUnsafeBytes { Data($0) }
        try data.write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return try TokenFile(url: url, dtype: dtype)
    }

    func testBatchesAreShiftedWindows() throws {
        let file = try tokenFile((0..<1_000).map { UInt32($0 * 70) }, dtype: .uint32)
        XCTAssertEqual(file.count, 1_000)
        XCTAssertEqual(file[999], 69_930)
        var sampler = BatchSampler(tokens: file, seed: 1)
        let (x, y) = try sampler.nextBatch(batchSize: 8, contextLength: 16)
        XCTAssertEqual(x.count, 128)
        for row in 0..<8 {
            let start = Int(x[row * 16]) / 70
            for t in 0..<16 {
                XCTAssertEqual(Int(x[row * 16 + t]), (start + t) * 70)
                XCTAssertEqual(Int(y[row * 16 + t]), (start + t + 1) * 70)
            }
        }
    }

    func testSeedAndStateMakeBatchesReproducible() throws {
        let file = try tokenFile((0..<5_000).map { UInt32($0 % 65_536) }, dtype: .uint16)
        var a = BatchSampler(tokens: file, seed: 1234)
        var b = BatchSampler(tokens: file, seed: 1234)
        XCTAssertEqual(try a.nextBatch(batchSize: 4, contextLength: 32).x, try b.nextBatch(batchSize: 4, contextLength: 32).x)
        let saved = a.generator.state
        let next = try a.nextBatch(batchSize: 4, contextLength: 32)
        var resumed = BatchSampler(tokens: file, seed: 0)
        resumed.generator = try XCTUnwrap(Xoshiro256StarStar(state: saved))
        XCTAssertEqual(try resumed.nextBatch(batchSize: 4, contextLength: 32).y, next.y)
        var other = BatchSampler(tokens: file, seed: 1235)
        XCTAssertNotEqual(try other.nextBatch(batchSize: 4, contextLength: 32).x, next.x)
    }

    func testGeneratorStateSurvivesJSON() throws {
        var generator = Xoshiro256StarStar(seed: 9)
        _ = generator.next()
        var restored = try JSONDecoder().decode(Xoshiro256StarStar.self, from: JSONEncoder().encode(generator))
        XCTAssertEqual((0..<5).map { _ in restored.next() }, (0..<5).map { _ in generator.next() })
        XCTAssertThrowsError(try JSONDecoder().decode(Xoshiro256StarStar.self, from: Data("[0, 0, 0, 0]".utf8)))
        XCTAssertNil(Xoshiro256StarStar(state: [1, 2, 3]))
    }

    func testGeneratorIsUniformEnoughAndInRange() {
        var generator = Xoshiro256StarStar(seed: 5)
        var histogram = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 { histogram[generator.next(below: 10)] += 1 }
        XCTAssertTrue(histogram.allSatisfy { abs($0 - 10_000) < 500 }, "\(histogram)")
    }

    /// This process's resident pages of mapped files, in bytes (RssFile in /proc/self/status).
    private func residentFileBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssFile:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else {
            throw XCTSkip("no RssFile in /proc/self/status")
        }
        return kb * 1024
    }

    /// Random windows over a corpus larger than the budget leave at most about the budget resident:
    /// without the releases, 4,000 windows map 64 KiB each (fault-around), 256 MB in all.
    func testWindowsOfALargeMappedCorpusStayWithinTheResidentBudget() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sparse-\(UUID().uuidString).bin")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: url) }
        guard truncate(url.path, 1 << 30) == 0 else { throw XCTSkip("cannot make a sparse file") }
        var sampler = BatchSampler(tokens: try TokenFile(url: url, dtype: .uint16), seed: 3)
        let before = try residentFileBytes()
        var peak = 0
        for _ in 0..<500 {
            let (x, _) = sampler.next(batch: 8, seq: 64)
            XCTAssertEqual(x.count, 512)
            peak = max(peak, try residentFileBytes() - before)
        }
        XCTAssertLessThan(peak, BatchSampler.residentBudget + (16 << 20), "resident file pages grew by \(peak >> 20) MB")
    }

    func testTooShortFileAndOddSize() throws {
        var sampler = BatchSampler(tokens: try tokenFile([1, 2, 3], dtype: .uint16), seed: 1)
        XCTAssertThrowsError(try sampler.nextBatch(batchSize: 1, contextLength: 3))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("odd-\(UUID().uuidString).bin")
        try Data([1, 2, 3]).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try TokenFile(url: url, dtype: .uint16)) {
            XCTAssertEqual($0 as? DataError, .malformedTokenFile(path: url.path, reason: "3 bytes is not a whole number of uint16 ids"))
        }
    }
}
