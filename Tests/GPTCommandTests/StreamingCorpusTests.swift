// A corpus larger than the machine would want to copy trains through the `gpt` binary on
// windows read straight from its memory-mapped shards: a 3 GB directory of llm.c shards
// (sparse files: ids of zero, no disk used) trains for a few steps while the process's
// peak resident size stays within 300 MB of the same run's on a corpus of a few kilobytes.
// Copying the corpus, as `gpt train` did before, would need 6 GB (its ids as Int32).
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

extension CommandLineTests {
    /// Runs gpt with `arguments` (output to files in `work`) and returns its exit status and peak
    /// resident size in bytes, from wait4's rusage of that child alone.
    func gptPeakResident(_ arguments: [String]) throws -> (status: Int32, peakBytes: Int, stderr: String) {
        let binary = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        let errPath = work.appendingPathComponent("stderr-\(UUID().uuidString).txt").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([binary.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, binary.path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw XCTSkip("cannot spawn gpt: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (exited, usage.ru_maxrss * 1024, stderr)
    }

    /// Writes an llm.c shard header claiming `tokens` uint16 ids, then extends the file to that
    /// size without writing them: a sparse file whose ids read as zero.
    func writeSparseShard(_ url: URL, tokens: Int) throws {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20240520; header[1] = 1; header[2] = Int32(tokens)
        try header.map(\.littleEndian).withUnsafeBytes { Data($0) }.write(to: url)
        guard truncate(url.path, off_t(1024 + 2 * tokens)) == 0 else {
            throw XCTSkip("cannot make a sparse file at \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    func testA3GBShardCorpusTrainsWithinThreeHundredMBOfATinyCorpusPeakMemory() throws {
        // The small corpus: our own prepared shards, whose tokenizer and validation shard the large one borrows.
        let text = work.appendingPathComponent("small.txt")
        try String(repeating: Self.sentences.joined(separator: ".\n") + ".\n", count: 40)
            .write(to: text, atomically: true, encoding: .utf8)
        let small = work.appendingPathComponent("small")
        let prepared = try gpt("prepare", text.path, "--tokenizer", "char", "--out", small.path, "--format", "llmc")
        XCTAssertEqual(prepared.0, 0, prepared.2)

        let large = work.appendingPathComponent("large")
        try FileManager.default.createDirectory(at: large, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: large) }
        try FileManager.default.copyItem(at: small.appendingPathComponent("gpt-tokenizer.json"),
                                         to: large.appendingPathComponent("gpt-tokenizer.json"))
        try FileManager.default.copyItem(at: small.appendingPathComponent("small_val_000000.bin"),
                                         to: large.appendingPathComponent("large_val_000000.bin"))
        let perShard = 750_000_000  // two shards of 1.5 GB: 3 GB, 1.5 × 10⁹ ids
        for i in 0..<2 { try writeSparseShard(large.appendingPathComponent("large_train_\(String(format: "%06d", i + 1)).bin"), tokens: perShard) }

        func train(_ data: URL, _ name: String) throws -> Int {
            let run = try gptPeakResident(["train", "--data", data.path, "--steps", "4", "--eval-every", "2", "--set", "n_layer=2",
                                           "--set", "n_embd=64", "--set", "n_head=2", "--set", "n_positions=64",
                                           "--threads", "2", "--out", work.appendingPathComponent(name).path])
            XCTAssertEqual(run.status, 0, run.stderr)
            let steps = try losses(work.appendingPathComponent(name).path)
            XCTAssertEqual(steps.count, 4, "every step logged")
            return run.peakBytes
        }
        let baseline = try train(small, "run-small")
        let streamed = try train(large, "run-large")
        let mb = { (bytes: Int) in Double(bytes) / 1e6 }
        print(String(format: "peak RSS: %.0f MB on a %d-token corpus, %.0f MB on 3 GB of shards (%d tokens): %+.0f MB",
                     mb(baseline), try PreparedCorpusSize.tokens(small), mb(streamed), 2 * perShard, mb(streamed - baseline)))
        XCTAssertGreaterThan(baseline, 0, "wait4 reported a peak resident size")
        XCTAssertLessThan(streamed, baseline + 300_000_000,
                          "training on 3 GB of shards must not hold them in memory: \(mb(streamed)) MB vs \(mb(baseline)) MB")
    }
}

/// The ids a prepared shard directory's training shards hold, from their headers.
enum PreparedCorpusSize {
    static func tokens(_ directory: URL) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("_train_") }.reduce(0) { sum, name in
            let header = try FileHandle(forReadingFrom: directory.appendingPathComponent(name)).read(upToCount: 12) ?? Data()
            return sum + Int(header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: Int32.self) })
        }
    }
}
