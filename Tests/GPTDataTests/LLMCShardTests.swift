// llm.c's token shards: what `prepare --format llmc` writes is llm.c's layout and reads back
// as the very ids the native format holds; a directory of shards is one corpus; and a shard
// with a bad header is refused with its name and the reason.
import Foundation
import XCTest
import GPTData
import GPTTokenizer

final class LLMCShardTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("llmc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func corpus() throws -> URL {
        let url = directory.appendingPathComponent("input.txt")
        let text = (0..<400).map { "Line \($0): the quick brown fox jumps over the lazy dog.\n" }.joined()
        try Data(text.utf8).write(to: url)
        return url
    }

    /// A shard written byte by byte the way llm.c's `write_datafile` does.
    private func writeShard(_ name: String, magic: Int32 = 20240520, version: Int32 = 1, count: Int32? = nil,
                            ids: [UInt16]) throws -> URL {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic; header[1] = version; header[2] = count ?? Int32(ids.count)
        var data = header.withUnsafeBytes { Data($0) }
        data.append(ids.withUnsafeBytes { Data($0) })
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    func testPreparedShardsHoldTheNativeFormatsIdsSplitAcrossFiles() throws {
        let input = try corpus()
        let native = directory.appendingPathComponent("native"), shards = directory.appendingPathComponent("sharded")
        let expected = try DataPreparer.prepare(inputs: [.textFile(input)], tokenizer: .characters, outputDirectory: native, threads: 2)
        let meta = try DataPreparer.prepare(inputs: [.textFile(input)], tokenizer: .characters, outputDirectory: shards,
                                            threads: 2, format: .llmc, shardTokens: 5_000)
        XCTAssertEqual(meta.format, .llmc)
        XCTAssertEqual(meta.trainTokens, expected.trainTokens)
        let (train, validation) = LLMCShard.shards(in: shards)
        let shardCount = (meta.trainTokens + 4_999) / 5_000
        XCTAssertGreaterThan(shardCount, 2)
        XCTAssertEqual(train.map(\.lastPathComponent), (0..<shardCount).map { "sharded_train_00000\($0).bin" })
        XCTAssertEqual(validation.map(\.lastPathComponent), ["sharded_val_000000.bin"])

        // llm.c's header: magic, version 1, the shard's own count; then uint16 ids.
        let first = try Data(contentsOf: train[0])
        let header = first.withUnsafeBytes { raw in (0..<3).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
        XCTAssertEqual(header, [20240520, 1, 5_000])
        XCTAssertEqual(first.count, 1024 + 2 * 5_000)

        let a = try PreparedDataset(directory: native), b = try PreparedDataset(directory: shards)
        XCTAssertEqual(b.train.files.count, shardCount)
        XCTAssertEqual(b.train.allTokens(), a.train.allTokens())
        XCTAssertEqual(b.validation.allTokens(), a.validation.allTokens())
        XCTAssertEqual(try TokenizedCorpus.load(shards.path, tokenizer: .characters).train.allTokens(), a.train.allTokens())
    }

    func testCopyAcrossShardBoundariesEqualsTheConcatenation() throws {
        var rng = SystemRandomNumberGenerator()
        let sizes = [7, 1, 30, 0, 12]
        var all: [UInt16] = []
        var files: [TokenFile] = []
        for (i, size) in sizes.enumerated() {
            let ids = (0..<size).map { _ in UInt16.random(in: 0...9, using: &rng) }
            all += ids
            files.append(try LLMCShard.open(try writeShard("c_train_\(i).bin", ids: ids)).file)
        }
        let shards = TokenShards(files)
        XCTAssertEqual(shards.count, all.count)
        for _ in 0..<200 {
            let lo = Int.random(in: 0..<all.count), hi = Int.random(in: lo...all.count)
            var out = [Int32](repeating: -1, count: hi - lo)
            out.withUnsafeMutableBufferPointer { if hi > lo { shards.copy(lo..<hi, to: $0.baseAddress!) } }
            XCTAssertEqual(out, all[lo..<hi].map(Int32.init))
        }
    }

    func testADirectoryOfLLMCShardsWithoutMetaIsACorpusWithItsTokenizerFile() throws {
        let tokenizer = CharTokenizer(characters: "abcdefghij".unicodeScalars)
        try TokenizerFile.write(tokenizer, to: directory.appendingPathComponent(TokenizerFile.defaultFileName))
        _ = try writeShard("tiny_val.bin", ids: [1, 2, 3, 4])
        _ = try writeShard("tiny_train_000001.bin", ids: [5, 6, 7])
        _ = try writeShard("tiny_train_000002.bin", ids: [8, 9])
        _ = try writeShard("notes_validation.bin", ids: [0])  // neither split's name: ignored
        let dataset = try PreparedDataset(directory: directory)
        XCTAssertEqual(dataset.train.allTokens(), [5, 6, 7, 8, 9])
        XCTAssertEqual(dataset.validation.allTokens(), [1, 2, 3, 4])
        XCTAssertEqual(dataset.meta.vocabularySize, 10)
        XCTAssertEqual(dataset.meta.format, .llmc)
    }

    func testABadShardIsRefusedWithItsNameAndReason() throws {
        let cases: [(String, () throws -> URL, String)] = [
            ("magic", { try self.writeShard("m_train_0.bin", magic: 20240521, ids: [1]) }, "bad magic 20240521: an llm.c shard starts with 20240520"),
            ("version", { try self.writeShard("v_train_0.bin", version: 7, ids: [1]) },
             "unsupported version 7 (1: uint16 GPT-2 ids, 2: uint32 LLaMA 3 ids)"),
            ("count", { try self.writeShard("n_train_0.bin", count: 5, ids: [1, 2, 3]) },
             "the header says 5 tokens but the file holds 3 uint16 ids after it"),
            ("negative", { try self.writeShard("x_train_0.bin", count: -1, ids: []) }, "negative token count -1 in the header"),
            ("short", {
                let url = self.directory.appendingPathComponent("s_train_0.bin")
                try Data(repeating: 0, count: 100).write(to: url)
                return url
            }, "100 bytes is shorter than an llm.c shard's 1024-byte header"),
            ("odd", {
                let url = try self.writeShard("o_train_0.bin", count: 1, ids: [1])
                let handle = try FileHandle(forWritingTo: url)
                try handle.seekToEnd(); try handle.write(contentsOf: Data([0])); try handle.close()
                return url
            }, "3 bytes is not a whole number of uint16 ids"),
        ]
        for (what, make, reason) in cases {
            let url = try make()
            XCTAssertThrowsError(try LLMCShard.open(url), what) {
                XCTAssertEqual("\($0)", "\(url.path): \(reason)", what)
            }
        }
    }

    func testADirectoryWithoutAValidationShardIsRefused() throws {
        let tokenizer = CharTokenizer(characters: "ab".unicodeScalars)
        try TokenizerFile.write(tokenizer, to: directory.appendingPathComponent(TokenizerFile.defaultFileName))
        _ = try writeShard("t_train_000000.bin", ids: [0, 1])
        XCTAssertThrowsError(try PreparedDataset(directory: directory)) {
            XCTAssertEqual("\($0)", "\(self.directory.path): no validation shard (a .bin file whose name contains _val_)")
        }
    }

    func testShardsAreNotWrittenBesideOthersNorForVocabulariesOverUInt16() throws {
        let input = try corpus()
        let out = directory.appendingPathComponent("again")
        _ = try DataPreparer.prepare(inputs: [.textFile(input)], tokenizer: .characters, outputDirectory: out, threads: 2, format: .llmc)
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(input)], tokenizer: .characters, outputDirectory: out,
                                                      threads: 2, format: .llmc)) {
            XCTAssertTrue("\($0)".contains("already holds shards (again_train_000000.bin)"), "\($0)")
        }
        let wide = CharTokenizer(characters: (0..<70_000).compactMap { Unicode.Scalar(0x10000 + $0) })
        XCTAssertThrowsError(try DataPreparer.prepare(inputs: [.textFile(input)], tokenizer: .given(wide),
                                                      outputDirectory: directory.appendingPathComponent("wide"), threads: 2,
                                                      format: .llmc)) {
            XCTAssertTrue("\($0)".contains("their version-1 ids are uint16, and this tokenizer has 70000 ids"), "\($0)")
        }
    }
}
