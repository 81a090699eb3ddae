// Training windows read straight from memory-mapped llm.c shards: a corpus split into shards
// trains, evaluates and resumes bit for bit as the same ids held in memory (the one sampler
// draws the same windows from both, across shard boundaries), and the checkpoint's data
// fingerprint is the one earlier checkpoints recorded, so they still resume.
import Foundation
import XCTest
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer
import GPTTraining

final class ShardStreamingTests: XCTestCase {
    var directory: URL!
    let text = String(repeating: "the quick brown fox jumps over the lazy dog. a slow red hen naps. ", count: 40)
    var tokenizer: CharTokenizer { CharTokenizer(characters: text.unicodeScalars) }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("shard-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    var ids: [Int32] { get throws { try tokenizer.encode(text).map(Int32.init) } }

    func shards(_ ids: [Int32], sizes: [Int], split: String) throws -> TokenShards {
        try Self.shards(ids, sizes: sizes, split: split, in: directory)
    }

    /// `ids` as llm.c shards of the given sizes (the last takes the rest) in `directory`, opened as one sequence.
    static func shards(_ ids: [Int32], sizes: [Int], split: String, in directory: URL) throws -> TokenShards {
        var rest = ids[...], files: [TokenFile] = []
        for (i, size) in (sizes + [ids.count]).enumerated() where !rest.isEmpty {
            let part = rest.prefix(size)
            rest = rest.dropFirst(part.count)
            var header = [Int32](repeating: 0, count: LLMCShard.headerInts)
            header[0] = LLMCShard.magic; header[1] = 1; header[2] = Int32(part.count)
            var data = header.map(\.littleEndian).withUnsafeBytes { Data($0) }
            data += part.map { UInt16($0).littleEndian }.withUnsafeBytes { Data($0) }
            let url = directory.appendingPathComponent(LLMCShard.fileName(prefix: "t", split: split, index: i))
            try data.write(to: url)
            files.append(try LLMCShard.open(url).file)
        }
        return TokenShards(files)
    }

    func trainer(train: TokenShards, validation: TokenShards, steps: Int = 8) throws -> Trainer {
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 16, embeddingSize: 32,
                               layerCount: 2, headCount: 2, dropout: 0.1)
        let model = try GPT(config: config, seed: 7, pool: ThreadPool(threads: 2))
        var options = TrainingOptions()
        options.batchSize = 4; options.steps = steps; options.evalEvery = 3; options.evalBatches = 3
        options.schedule = LearningRateSchedule(maxRate: 3e-3, minRate: 3e-4, warmupSteps: 2, decaySteps: steps)
        return try Trainer(model: model, train: train, validation: validation, options: options)
    }

    /// Losses and evaluations of a whole run, as bit patterns.
    func record(_ trainer: Trainer, stopAfter: Int? = nil) throws -> [UInt32] {
        var out: [UInt32] = []
        do {
            try trainer.run { report in
                out.append(report.loss.bitPattern)
                if let e = report.evaluation { out += [e.train.bitPattern, e.validation.bitPattern] }
                if report.step == stopAfter { throw CancellationError() }
            }
        } catch is CancellationError {}
        return out
    }

    func testShardedCorpusTrainsAndEvaluatesExactlyAsTheSameIdsInMemory() throws {
        let ids = try self.ids
        let train = Array(ids.prefix(2200)), validation = Array(ids.suffix(400))
        // Shards of 7 and 300 ids: many windows of 17 span a boundary, and one shard is shorter than a window.
        let mapped = try trainer(train: shards(train, sizes: [700, 7, 300], split: "train"),
                                 validation: shards(validation, sizes: [150], split: "val"))
        let inMemory = try trainer(train: TokenShards(tokens: train), validation: TokenShards(tokens: validation))
        let a = try record(mapped), b = try record(inMemory)
        XCTAssertEqual(a.count, 8 + 2 * 4, "8 losses and evaluations after steps 0, 3, 6 and 7")
        XCTAssertEqual(a, b)
        XCTAssertEqual(mapped.state(), inMemory.state())
    }

    func testARunOnShardsResumesBitForBit() throws {
        let ids = try self.ids
        func make() throws -> Trainer {
            try trainer(train: shards(Array(ids.prefix(2200)), sizes: [500, 500], split: "train"),
                        validation: TokenShards(tokens: Array(ids.suffix(400))))
        }
        let straight = try record(make())
        let first = try make()
        var resumed = try record(first, stopAfter: 3)
        let run = directory.appendingPathComponent("run")
        try TrainingCheckpoint.save(first, tokenizer: tokenizer, in: run)
        let second = try make()
        try TrainingCheckpoint.restore(second, tokenizer: tokenizer, from: run.appendingPathComponent("checkpoint"))
        XCTAssertEqual(second.stepsDone, 4)
        resumed += try record(second)
        XCTAssertEqual(resumed, straight)
    }

    /// The fingerprint of a corpus below `fullFingerprintLimit` is FNV-1a over every id, as checkpoints
    /// made when the trainer held its corpus in memory recorded it; sharding does not change it.
    func testDataFingerprintIsTheFNVOfEveryIdAsEarlierCheckpointsRecordedIt() throws {
        let ids = try self.ids
        var expected: UInt64 = 0xCBF2_9CE4_8422_2325
        for t in ids.prefix(2200) { expected = (expected ^ UInt64(UInt32(bitPattern: t))) &* 0x0000_0100_0000_01B3 }
        let mapped = try trainer(train: shards(Array(ids.prefix(2200)), sizes: [100, 1000], split: "train"),
                                 validation: TokenShards(tokens: Array(ids.suffix(400))))
        XCTAssertEqual(mapped.state().dataFingerprint, expected)
        var other = Array(ids.prefix(2200))
        other[1234] = other[1234] == 1 ? 2 : 1
        let changed = try trainer(train: TokenShards(tokens: other), validation: TokenShards(tokens: Array(ids.suffix(400))))
        XCTAssertNotEqual(changed.state().dataFingerprint, expected, "one changed id changes the fingerprint")
    }
}
