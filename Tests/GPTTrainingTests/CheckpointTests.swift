import Foundation
import XCTest
import GPTCore
import GPTKernels
import GPTTokenizer
import GPTTraining

final class CheckpointTests: XCTestCase {
    var run: URL!
    let text = String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 60)
    var tokenizer: CharTokenizer { CharTokenizer(characters: text.unicodeScalars) }

    override func setUpWithError() throws {
        run = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: run) }

    func makeTrainer(steps: Int, dropout: Float = 0.1, layers: Int = 2) throws -> Trainer {
        let ids = try tokenizer.encode(text).map(Int32.init)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 16, embeddingSize: 32,
                               layerCount: layers, headCount: 2, dropout: dropout)
        let model = try GPT(config: config, seed: 7, pool: ThreadPool(threads: 2))
        var options = TrainingOptions()
        options.batchSize = 4; options.steps = steps; options.evalEvery = 0
        options.schedule = LearningRateSchedule(maxRate: 3e-3, minRate: 3e-4, warmupSteps: 3, decaySteps: steps)
        return try Trainer(model: model, train: Array(ids.prefix(2000)), validation: Array(ids.suffix(500)), options: options)
    }

    /// Stopping after 6 steps, saving, and resuming in a fresh trainer gives the same losses,
    /// bit for bit, as 12 uninterrupted steps: weights, moments, data order and dropout all restored.
    func testResumedRunMatchesUninterruptedRunBitForBit() throws {
        var straight: [Float] = []
        try makeTrainer(steps: 12).run { straight.append($0.loss) }

        let first = try makeTrainer(steps: 12)
        var resumed: [Float] = []
        XCTAssertThrowsError(try first.run { report in  // stop as Ctrl-C would, after step 5
            resumed.append(report.loss)
            if report.step == 5 { throw CancellationError() }
        })
        XCTAssertEqual(first.stepsDone, 6)
        let saved = try TrainingCheckpoint.save(first, tokenizer: tokenizer, in: run)
        XCTAssertEqual(saved.lastPathComponent, "checkpoint-6")

        let second = try makeTrainer(steps: 12)
        try TrainingCheckpoint.restore(second, tokenizer: tokenizer, from: run.appendingPathComponent("checkpoint"))
        XCTAssertEqual(second.stepsDone, 6)
        try second.run { resumed.append($0.loss) }
        XCTAssertEqual(resumed, straight)
    }

    func testCheckpointHoldsEveryFileAndReplacesTheOldOne() throws {
        let trainer = try makeTrainer(steps: 4)
        try trainer.run { _ in }
        try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: run)
        let second = try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: run)
        let link = run.appendingPathComponent("checkpoint")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link.path), second.lastPathComponent)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: link.path))
        XCTAssertEqual(files, ["config.json", "model.safetensors", "optimizer.safetensors", "state.json", "gpt-tokenizer.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.path).filter { !$0.hasPrefix(".gpt-run") }.sorted(),
                       ["checkpoint", second.lastPathComponent],
                       "older checkpoint directories are removed")
        // The checkpoint is also a Hugging Face directory that sampling and evaluation load.
        XCTAssertNoThrow(try HuggingFaceGPT2.load(directory: link, pool: ThreadPool(threads: 1)))
    }

    struct SimulatedCrash: Error {}

    /// A save killed after any of its stages leaves `checkpoint` naming a whole checkpoint: the previous
    /// one until the link is switched, the new one after; the next save clears the debris.
    func testCheckpointSurvivesACrashAtEachStageOfSaving() throws {
        for crashAfter in [TrainingCheckpoint.SaveStage.filesWritten, .directoryInPlace, .linkSwitched] {
            try? FileManager.default.removeItem(at: run)
            let first = try makeTrainer(steps: 3)
            try first.run { _ in }
            try TrainingCheckpoint.save(first, tokenizer: tokenizer, in: run)
            let weightsAt3 = Array(UnsafeBufferPointer(start: first.model.parameters, count: first.model.layout.count))
            let second = try makeTrainer(steps: 5)
            try TrainingCheckpoint.restore(second, tokenizer: tokenizer, from: run.appendingPathComponent("checkpoint"))
            try second.run { _ in }
            XCTAssertThrowsError(try TrainingCheckpoint.save(second, tokenizer: tokenizer, in: run) { stage in
                if stage == crashAfter { throw SimulatedCrash() }
            })
            let survivor = try makeTrainer(steps: 6)
            try TrainingCheckpoint.restore(survivor, tokenizer: tokenizer, from: run.appendingPathComponent("checkpoint"))
            XCTAssertEqual(survivor.stepsDone, crashAfter == .linkSwitched ? 5 : 3, "crash after \(crashAfter)")
            if crashAfter != .linkSwitched {
                XCTAssertEqual(Array(UnsafeBufferPointer(start: survivor.model.parameters, count: survivor.model.layout.count)), weightsAt3)
            }
            try survivor.run { _ in }
            try TrainingCheckpoint.save(survivor, tokenizer: tokenizer, in: run)
            let left = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0 != "checkpoint" && !$0.hasPrefix(".gpt-run") }
            XCTAssertEqual(left, ["checkpoint-6"], "only the live checkpoint remains after the next save")
        }
    }

    func testResumeIsRefusedForAnotherShapeOrOtherData() throws {
        let trainer = try makeTrainer(steps: 2)
        try trainer.run { _ in }
        try TrainingCheckpoint.save(trainer, tokenizer: tokenizer, in: run)
        let checkpoint = run.appendingPathComponent("checkpoint")
        XCTAssertThrowsError(try TrainingCheckpoint.restore(try makeTrainer(steps: 4, layers: 3), tokenizer: tokenizer, from: checkpoint)) {
            XCTAssertEqual($0 as? CheckpointMismatch, .config(field: "n_layer", checkpoint: "2", run: "3"))
            XCTAssert("\($0)".contains("n_layer"))
        }
        let ids = try tokenizer.encode(text).map(Int32.init)
        let other = try Trainer(model: trainer.model, train: Array(ids.suffix(2000)), validation: Array(ids.prefix(500)),
                                options: trainer.options)
        XCTAssertThrowsError(try TrainingCheckpoint.restore(other, tokenizer: tokenizer, from: checkpoint)) {
            XCTAssertEqual($0 as? CheckpointMismatch, .data)
        }
    }
}
