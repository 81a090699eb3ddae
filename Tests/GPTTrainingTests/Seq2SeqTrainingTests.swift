// Encoder–decoder training (Seq2SeqTrainer, Seq2SeqRun, Seq2SeqCheckpoint): a tiny model learns
// to reverse strings, and a run stopped at a checkpoint and resumed ends bit for bit where one
// uninterrupted run ends (dropout on, so the dropout counters and batch position must be restored).
import Foundation
import GPTCore
import GPTData
import GPTGeneration
import GPTKernels
import GPTTokenizer
import GPTTraining
import XCTest

final class Seq2SeqTrainingTests: XCTestCase {
    /// Strings of 2...6 letters from "abcdef" and their reverse.
    static func reversePairs(count: Int, seed: UInt64) -> [TranslationPair] {
        var rng = SplitMix64(seed: seed)
        let letters = Array("abcdef")
        return (0..<count).map { i in
            let length = 2 + Int(rng.next() % 5)
            let source = String((0..<length).map { _ in letters[Int(rng.next() % UInt64(letters.count))] })
            return TranslationPair(source: source, target: String(source.reversed()), line: i + 1)
        }
    }

    static func tinyConfig(steps: Int, dropout: Float = 0) -> TrainingConfig {
        var c = TrainingConfig(model: GPTConfig(vocabSize: 1, contextLength: 12, embeddingSize: 32, layerCount: 2, headCount: 2,
                                                dropout: dropout))
        c.modelType = .transformer; c.feedForwardSize = 64; c.maxTokens = 192
        c.learningRate = 3e-3; c.minLearningRate = 3e-4; c.warmupSteps = 30; c.steps = steps
        c.weightDecay = 0; c.beta2 = 0.98; c.evalEvery = 0; c.seed = 7
        return c
    }

    func makeTrainer(_ config: TrainingConfig, tokenizer: any Tokenizer, pool: ThreadPool) throws -> Seq2SeqTrainer {
        let train = try TranslationPairs.tokenize(Self.reversePairs(count: 600, seed: 1), with: tokenizer)
        let validation = try TranslationPairs.tokenize(Self.reversePairs(count: 60, seed: 2), with: tokenizer)
        let tokens = Seq2SeqTokens(tokenizer: tokenizer)
        let model = try Seq2SeqTransformer(config: tokens.modelConfig(config), seed: config.seed, pool: pool)
        return try Seq2SeqTrainer(model: model, train: train, validation: validation, config: config)
    }

    func testATinyModelLearnsToReverseStringsFarBelowTheUnigramEntropy() throws {
        let tokenizer = CharTokenizer(characters: "abcdef".unicodeScalars)
        let pool = try ThreadPool(threads: 2)
        let trainer = try makeTrainer(Self.tinyConfig(steps: 400), tokenizer: tokenizer, pool: pool)
        // The unigram entropy of the validation targets (letters and EOS): the loss of a model that ignores the source.
        var counts: [Int32: Int] = [:]
        for pair in trainer.validation { for t in pair.target + [Int32(trainer.model.config.eosTokenId)] { counts[t, default: 0] += 1 } }
        let total = Double(counts.values.reduce(0, +))
        let unigram = -counts.values.map { Double($0) / total * log(Double($0) / total) }.reduce(0, +)
        let before = try trainer.validationLoss(limit: .max).loss
        for _ in 0..<400 { _ = try trainer.step() }
        let after = try trainer.validationLoss(limit: .max).loss
        XCTAssertGreaterThan(before, unigram, "an untrained model is no better than the unigram distribution")
        XCTAssertLessThan(after, 0.25 * unigram, "validation cross-entropy \(after) vs unigram entropy \(unigram) (before: \(before))")
        // Greedy decoding reverses most held-out strings.
        let translator = Translator(model: trainer.model, tokenizer: tokenizer)
        let sample = Array(trainer.validation.prefix(20))
        let outputs = try translator.translate(sample.map(\.source), maxLength: 12)
        let correct = zip(sample, outputs).filter { $0.0.target == $0.1.ids }.count
        XCTAssertGreaterThanOrEqual(correct, 15, "greedy reversed \(correct) of 20")
    }

    func testAResumedRunEndsBitForBitWhereAnUninterruptedRunEnds() throws {
        let tokenizer = CharTokenizer(characters: "abcdef".unicodeScalars)
        let pool = try ThreadPool(threads: 2)
        var config = Self.tinyConfig(steps: 24, dropout: 0.1)
        config.gradAccumulation = 2
        let whole = try makeTrainer(config, tokenizer: tokenizer, pool: pool)
        var losses: [Float] = []
        for _ in 0..<24 { losses.append(try whole.step().loss) }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("s2s-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try makeTrainer(config, tokenizer: tokenizer, pool: pool)
        var resumedLosses: [Float] = []
        for _ in 0..<13 { resumedLosses.append(try first.step().loss) }
        try Seq2SeqCheckpoint.write(first, tokenizer: tokenizer, to: directory)
        let second = try makeTrainer(config, tokenizer: tokenizer, pool: pool)
        try Seq2SeqCheckpoint.restore(second, tokenizer: tokenizer, from: directory)
        XCTAssertEqual(second.stepsDone, 13)
        for _ in 13..<24 { resumedLosses.append(try second.step().loss) }

        XCTAssertEqual(losses, resumedLosses)
        let n = whole.model.layout.count
        let same = (0..<n).allSatisfy { whole.model.parameters[$0].bitPattern == second.model.parameters[$0].bitPattern }
        XCTAssertTrue(same, "weights after 24 steps differ between the whole run and the resumed one")
        XCTAssertEqual(whole.state(), second.state())
    }

    func testResumeRefusesOtherPairsAndAnotherModelShape() throws {
        let tokenizer = CharTokenizer(characters: "abcdef".unicodeScalars)
        let pool = try ThreadPool(threads: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("s2s-refuse-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = Self.tinyConfig(steps: 4)
        let trainer = try makeTrainer(config, tokenizer: tokenizer, pool: pool)
        _ = try trainer.step()
        try Seq2SeqCheckpoint.write(trainer, tokenizer: tokenizer, to: directory)
        var wider = config
        wider.feedForwardSize = 48
        XCTAssertThrowsError(try Seq2SeqCheckpoint.restore(try makeTrainer(wider, tokenizer: tokenizer, pool: pool), tokenizer: tokenizer,
                                                           from: directory)) {
            XCTAssertEqual("\($0)", "cannot resume: the checkpoint's dim_feedforward is 64 but this run's is 48")
        }
        let other = try TranslationPairs.tokenize(Self.reversePairs(count: 50, seed: 9), with: tokenizer)
        let model = try Seq2SeqTransformer(config: Seq2SeqTokens(tokenizer: tokenizer).modelConfig(config), seed: 1, pool: pool)
        let otherTrainer = try Seq2SeqTrainer(model: model, train: other, validation: other, config: config)
        XCTAssertThrowsError(try Seq2SeqCheckpoint.restore(otherTrainer, tokenizer: tokenizer, from: directory)) {
            XCTAssertEqual($0 as? CheckpointMismatch, .data)
        }
    }

    /// One id is BOS, EOS and padding: <|endoftext|> when the tokenizer has it, else one appended id.
    func testTheSpecialIdIsEndOfTextOrAnIdAppendedAfterTheVocabulary() throws {
        let chars = Seq2SeqTokens(tokenizer: CharTokenizer(characters: "abc".unicodeScalars))
        XCTAssertEqual([chars.special, chars.vocabularySize], [3, 4])
        let text = Array("ab ab ab ba ba".utf8)
        let bpe = try BPETrainer.train(counts: text.withUnsafeBufferPointer { ChunkCounter.counting($0, threads: 1) },
                                       vocabularySize: 259, name: "t")
        let tokens = Seq2SeqTokens(tokenizer: bpe)
        XCTAssertEqual(tokens.special, try XCTUnwrap(bpe.endOfTextID))
        XCTAssertEqual(tokens.vocabularySize, bpe.vocabularySize)
        let config = tokens.modelConfig(Self.tinyConfig(steps: 1))
        XCTAssertEqual([config.bosTokenId, config.eosTokenId, config.padTokenId], [tokens.special, tokens.special, tokens.special])
        XCTAssertEqual([config.modelSize, config.feedForwardSize, config.encoderLayerCount, config.decoderLayerCount, config.maxPositions],
                       [32, 64, 2, 2, 12])
    }
}
