// The data-parallel trainer against one process, with ranks as threads (ThreadRanks.swift), so
// the default build proves the sharding, the bucketed gradient sums, the shared evaluation and
// the drift check without MPI. Tests/EndToEnd/mpi_training.sh repeats the equivalence on real
// MPI ranks.
import Foundation
import XCTest
import GPTCore
import GPTData
import GPTDistributed
import GPTKernels
import GPTTokenizer
import GPTTraining

final class DataParallelTrainingTests: XCTestCase {
    let text = String(repeating: "the quick brown fox jumps over the lazy dog. pack my box with five dozen jugs. ", count: 40)

    struct Outcome { var losses: [Float]; var evaluations: [Float]; var weights: [Float]; var moments: [Float] = [] }

    /// Trains 8 steps (evaluating after steps 3 and 7) with dropout, so the masks must match too.
    /// `sharedMemory`: ranks split the optimizer step in shared memory (OptimizerShards), else all-reduce the gradients.
    func train(accumulation: Int, ordered: Bool, communicator: any Communicator = SingleProcessCommunicator(),
               shards: (train: TokenShards, validation: TokenShards)? = nil, sharedMemory: Bool = true) throws -> Outcome {
        let tokenizer = CharTokenizer(characters: text.unicodeScalars)
        let ids = try tokenizer.encode(text).map(Int32.init)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 16, embeddingSize: 32, layerCount: 2,
                               headCount: 2, dropout: 0.1)
        let model = try GPT(config: config, seed: 11, pool: ThreadPool(threads: 1))
        var options = TrainingOptions()
        options.batchSize = 3; options.steps = 8; options.evalEvery = 4; options.evalBatches = 5
        options.gradientAccumulation = accumulation; options.orderedAccumulation = ordered
        options.shardOptimizerInSharedMemory = sharedMemory
        options.schedule = LearningRateSchedule(maxRate: 3e-3, minRate: 3e-4, warmupSteps: 2, decaySteps: 8)
        let trainer = try Trainer(model: model, train: shards?.train ?? TokenShards(tokens: Array(ids.prefix(2500))),
                                  validation: shards?.validation ?? TokenShards(tokens: Array(ids.suffix(600))),
                                  options: options, communicator: communicator)
        var outcome = Outcome(losses: [], evaluations: [], weights: [])
        try trainer.run { report in
            outcome.losses.append(report.loss)
            if let e = report.evaluation { outcome.evaluations += [e.train, e.validation] }
        }
        outcome.weights = Array(UnsafeBufferPointer(start: model.parameters, count: model.layout.count))
        XCTAssertEqual(trainer.gradientExchange, communicator.size == 1 ? "none" : sharedMemory ? "shared-memory shards" : "all-reduce")
        try trainer.gatherOptimizerState()
        outcome.moments = Array(UnsafeBufferPointer(start: trainer.optimizer.m, count: model.layout.count))
            + Array(UnsafeBufferPointer(start: trainer.optimizer.v, count: model.layout.count))
        return outcome
    }

    func testTwoAndThreeRanksMatchOneProcessWithOrderedAccumulationBitForBit() throws {
        for ranks in [2, 3] {
            let single = try train(accumulation: ranks, ordered: true)
            for sharedMemory in [true, false] {
                let shared = try ThreadRankGroup(size: ranks).run {
                    try self.train(accumulation: 1, ordered: true, communicator: $0, sharedMemory: sharedMemory)
                }
                for (rank, outcome) in shared.enumerated() {
                    let label = "\(ranks) ranks, \(sharedMemory ? "shared-memory shards" : "all-reduce"), rank \(rank)"
                    XCTAssertEqual(outcome.losses, single.losses, "\(label): step losses")
                    XCTAssertEqual(outcome.evaluations, single.evaluations, "\(label): evaluation losses")
                    XCTAssertTrue(outcome.weights == single.weights, "\(label): weights bit for bit")
                    XCTAssertTrue(outcome.moments == single.moments, "\(label): AdamW moments bit for bit once gathered")
                }
            }
        }
    }

    /// The optimizer step split over ranks gives each rank whole chunks of the norm's sum, and every
    /// element to exactly one rank.
    func testOptimizerPartsCoverTheLayoutInWholeChunks() throws {
        for (count, ranks) in [(100_000, 2), (100_000, 3), (40_000, 3), (10, 2), (Reduction.chunk * 4, 4)] {
            let parts = OptimizerShards.parts(count: count, ranks: ranks)
            XCTAssertEqual(parts.first?.lowerBound, 0); XCTAssertEqual(parts.last?.upperBound, count)
            for (a, b) in zip(parts, parts.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "\(count), \(ranks) ranks: contiguous") }
            for part in parts where part.lowerBound < count {
                XCTAssertEqual(part.lowerBound % Reduction.chunk, 0, "\(count), \(ranks) ranks: \(part) starts on a chunk")
            }
            if count >= Reduction.chunk * ranks { XCTAssertFalse(parts.contains { $0.isEmpty }, "\(count), \(ranks) ranks: every rank owns a part") }
        }
    }

    /// Ranks drawing their windows from memory-mapped shards (one mapping shared by all) train exactly
    /// as one process on the same ids in memory: the sampler draws the same windows from both.
    func testRanksReadingMappedShardsMatchOneProcessInMemoryBitForBit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dp-shards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ids = try CharTokenizer(characters: text.unicodeScalars).encode(text).map(Int32.init)
        let mapped = (train: try ShardStreamingTests.shards(Array(ids.prefix(2500)), sizes: [900, 5, 700], split: "train", in: directory),
                      validation: try ShardStreamingTests.shards(Array(ids.suffix(600)), sizes: [250], split: "val", in: directory))
        let single = try train(accumulation: 2, ordered: true)
        let shared = try ThreadRankGroup(size: 2).run { try self.train(accumulation: 1, ordered: true, communicator: $0, shards: mapped) }
        for (rank, outcome) in shared.enumerated() {
            XCTAssertEqual(outcome.losses, single.losses, "rank \(rank): step losses")
            XCTAssertEqual(outcome.evaluations, single.evaluations, "rank \(rank): evaluation losses")
            XCTAssertTrue(outcome.weights == single.weights, "rank \(rank): weights bit for bit")
        }
    }

    /// Two ranks of 2 micro-batches each sum their gradients in another order than one process of
    /// 4: equal within rounding, not bit for bit. Also the default in-place accumulation.
    func testRanksWithLocalAccumulationMatchOneProcessWithinRounding() throws {
        let single = try train(accumulation: 4, ordered: false)
        let shared = try ThreadRankGroup(size: 2).run { try self.train(accumulation: 2, ordered: false, communicator: $0) }
        for outcome in shared {
            for (a, b) in zip(outcome.losses, single.losses) { XCTAssertEqual(a, b, accuracy: 1e-5 * b) }
            let worst = zip(outcome.weights, single.weights).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "weights")
        }
        XCTAssertTrue(shared[0].weights == shared[1].weights, "the ranks agree with each other bit for bit")
    }

    /// Ranks whose weights drift apart are stopped at the next evaluation, naming the drifted rank.
    func testDriftedRankIsNamedAtTheNextEvaluation() throws {
        let tokenizer = CharTokenizer(characters: text.unicodeScalars)
        let ids = try tokenizer.encode(text).map(Int32.init)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 2)
        let errors = try ThreadRankGroup(size: 3).run { rank -> String in
            let model = try GPT(config: config, seed: 3, pool: ThreadPool(threads: 1))
            var options = TrainingOptions()
            options.batchSize = 2; options.steps = 4; options.evalEvery = 2; options.evalBatches = 2
            let trainer = try Trainer(model: model, train: Array(ids.prefix(800)), validation: Array(ids.suffix(200)),
                                      options: options, communicator: rank)
            _ = try trainer.step()
            if rank.rank == 2 { model.parameters[5] += 1e-3 }
            do { _ = try trainer.evaluate(); return "" } catch { return "\(error)" }
        }
        for message in errors { XCTAssertTrue(message.contains("the weights of rank 2 differ from rank 0's after step 0"), message) }
    }

    /// Rank 0's weights reach every rank at the start, whatever each rank initialised.
    func testRanksStartFromRankZerosWeights() throws {
        let config = GPTConfig(vocabSize: 7, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 2)
        let tokens = (0..<200).map { Int32($0 % 7) }
        let sums = try ThreadRankGroup(size: 2).run { rank -> UInt64 in
            let model = try GPT(config: config, seed: 100 + UInt64(rank.rank), pool: ThreadPool(threads: 1))
            return try Trainer(model: model, train: tokens, validation: tokens, options: TrainingOptions(), communicator: rank)
                .weightChecksum
        }
        let rankZero = try GPT(config: config, seed: 100, pool: ThreadPool(threads: 1))
        let alone = try Trainer(model: rankZero, train: tokens, validation: tokens, options: TrainingOptions())
        XCTAssertEqual(sums, [alone.weightChecksum, alone.weightChecksum])
    }
}
