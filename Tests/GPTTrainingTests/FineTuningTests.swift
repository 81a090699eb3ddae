// Fine-tuning a classifier: input encoding and truncation, metrics against hand counts,
// length-grouped batches, a model that learns a separable task, bit-identical reruns,
// and a checkpoint that reloads to the same predictions.
import Foundation
import XCTest
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer
import GPTTraining

final class FineTuningTests: XCTestCase {
    var directory: URL!
    static let alphabet = "abcdefghijklmnopqrstuvwxyz ."
    let tokenizer = CharTokenizer(characters: FineTuningTests.alphabet.unicodeScalars)

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("finetune-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testEncoderTruncatesTheChosenSideAndAppendsTheEndToken() throws {
        let right = try ClassificationEncoder(tokenizer: tokenizer, maxLength: 4, truncation: .right)
        XCTAssertEqual(try right.encode("abcdef").ids, try tokenizer.encode("abcd").map(Int32.init))
        XCTAssertTrue(try right.encode("abcdef").truncated)
        let left = try ClassificationEncoder(tokenizer: tokenizer, maxLength: 4, truncation: .left)
        XCTAssertEqual(try left.encode("abcdef").ids, try tokenizer.encode("cdef").map(Int32.init))
        XCTAssertFalse(try left.encode("abc").truncated)

        // Bytes only, plus <|endoftext|>: enough to show where the end token goes.
        let bpe = try BytePairTokenizer(name: "bytes", tokens: (0..<256).map { [UInt8($0)] },
                                        specialTokens: [BytePairTokenizer.endOfText: 256], source: "test")
        let withEnd = try ClassificationEncoder(tokenizer: bpe, maxLength: 3, truncation: .left)
        let ids = try withEnd.encode("a cat sat on a mat").ids
        XCTAssertEqual(ids.count, 3)
        XCTAssertEqual(ids.last, Int32(bpe.endOfTextID!), "the end token survives truncation")
        XCTAssertThrowsError(try ClassificationEncoder(tokenizer: tokenizer, maxLength: 1, truncation: .left))
    }

    func testEncodingRefusesUnknownLabelsAndUnencodableText() throws {
        let encoder = try ClassificationEncoder(tokenizer: tokenizer, maxLength: 16, truncation: .right)
        let unknown = [LabeledExample(text: "abc", label: "maybe", line: 3)]
        XCTAssertThrowsError(try encoder.encode(unknown, labelNames: ["no", "yes"], path: "t.jsonl")) {
            XCTAssertEqual($0 as? ClassificationDataError, .unknownLabel(label: "maybe", path: "t.jsonl", line: 3, known: ["no", "yes"]))
        }
        let foreign = [LabeledExample(text: "abc ü", label: "yes", line: 7)]
        XCTAssertThrowsError(try encoder.encode(foreign, labelNames: ["no", "yes"], path: "t.jsonl")) {
            guard case let .unencodableText(path, line, _) = $0 as? ClassificationDataError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, "t.jsonl"); XCTAssertEqual(line, 7)
        }
    }

    func testMetricsMatchHandCounts() {
        // actual:    a a a b b c
        // predicted: a b a b c c
        let m = ClassificationMetrics(labels: ["a", "b", "c"], actual: [0, 0, 0, 1, 1, 2], predicted: [0, 1, 0, 1, 2, 2])
        XCTAssertEqual(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
        XCTAssertEqual(m.accuracy, 4.0 / 6.0, accuracy: 1e-12)
        // F1: a = 2·1·(2/3)/(1+2/3) = 0.8; b = p 1/2, r 1/2 → 0.5; c = p 1/2, r 1 → 2/3.
        XCTAssertEqual(m.macroF1, (0.8 + 0.5 + 2.0 / 3.0) / 3, accuracy: 1e-12)
        let never = ClassificationMetrics(labels: ["a", "b"], actual: [0, 1], predicted: [0, 0])
        XCTAssertEqual(never.f1(1), 0, "a class never predicted has F1 0, not NaN")
        XCTAssertTrue(m.table.contains("recall"))
    }

    /// Every example appears exactly once per epoch, batches hold similar lengths, and a seed fixes the order.
    func testLengthGroupedBatchesCoverEveryExampleOnce() {
        let lengths = (0..<1000).map { ($0 * 7919) % 97 + 1 }
        let batches = ClassifierTrainer.lengthGroupedBatches(lengths: lengths, batchSize: 8, seed: 3)
        XCTAssertEqual(batches.flatMap { $0 }.sorted(), Array(0..<1000))
        XCTAssertEqual(batches, ClassifierTrainer.lengthGroupedBatches(lengths: lengths, batchSize: 8, seed: 3))
        XCTAssertNotEqual(batches, ClassifierTrainer.lengthGroupedBatches(lengths: lengths, batchSize: 8, seed: 4))
        let spread = batches.map { b in b.map { lengths[$0] }.max()! - b.map { lengths[$0] }.min()! }
        XCTAssertLessThan(Double(spread.reduce(0, +)) / Double(spread.count), 10, "pools of 50 batches sorted by length")
    }

    /// Texts whose label is whether they contain an 'x': a tiny model learns it from scratch,
    /// the same seed gives the same losses bit for bit, and a saved checkpoint predicts the same.
    /// Texts of random letters, labelled by whether they hold an "x": 200 to train on, 40 to test.
    func separableTask() throws -> (train: ClassificationInputs, test: ClassificationInputs, labels: [String], encoder: ClassificationEncoder) {
        var rng = SplitMix64(seed: 5)
        func text(_ withX: Bool) -> String {
            var letters = (0..<(6 + Int(rng.next() % 10))).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.next() % 23))) }
            if withX { letters[Int(rng.next() % UInt64(letters.count))] = "x" }
            return String(letters)
        }
        let examples = (0..<240).map { i in LabeledExample(text: text(i % 2 == 0), label: i % 2 == 0 ? "x" : "none", line: i + 1) }
        let labels = LabeledExamples.labelNames(examples)
        let encoder = try ClassificationEncoder(tokenizer: tokenizer, maxLength: 16, truncation: .right)
        let inputs = try encoder.encode(examples, labelNames: labels, path: "generated")
        return (ClassificationInputs(sequences: Array(inputs.sequences[..<200]), labels: Array(inputs.labels[..<200])),
                ClassificationInputs(sequences: Array(inputs.sequences[200...]), labels: Array(inputs.labels[200...])), labels, encoder)
    }

    /// A 2-layer, 32-wide classifier with dropout, and its trainer.
    func trainer(_ train: ClassificationInputs, padding: Int32, options: ClassifierTrainingOptions,
                 modelSeed: UInt64 = 1, headSeed: UInt64 = 2) throws -> ClassifierTrainer {
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: 16, embeddingSize: 32, layerCount: 2,
                               headCount: 2, dropout: 0.1)
        let model = try GPT(config: config, classCount: 2, seed: modelSeed, pool: try ThreadPool(threads: 2))
        try XCTUnwrap(ClassificationHead(model)).initialize(seed: headSeed)
        let classifier = try SequenceClassifier(model: model)
        return try ClassifierTrainer(classifier: classifier, train: train, padding: padding, options: options)
    }

    func testClassifierLearnsASeparableTaskReproduciblyAndReloads() throws {
        let (train, test, labels, encoder) = try separableTask()
        func fineTune() throws -> (SequenceClassifier, [Float]) {
            var options = ClassifierTrainingOptions()
            options.epochs = 8; options.batchSize = 16; options.learningRate = 3e-3
            let run = try trainer(train, padding: encoder.paddingToken, options: options)
            var losses: [Float] = []
            for epoch in 1...options.epochs { try run.runEpoch(epoch) { losses.append($0.loss.total) } }
            return (run.classifier, losses)
        }
        let (classifier, losses) = try fineTune()
        XCTAssertEqual(losses, try fineTune().1, "bit-identical with the same seed")
        let evaluation = try classifier.evaluate(test, labels: labels, padding: encoder.paddingToken)
        XCTAssertGreaterThanOrEqual(evaluation.metrics.accuracy, 0.9, evaluation.metrics.table)

        let settings = ClassifierSettings(labels: labels, maxLength: 16, truncation: .right)
        try ClassifierCheckpoint.save(classifier, settings: settings, tokenizer: tokenizer, in: directory, name: "final")
        let (loaded, loadedSettings, loadedTokenizer) = try ClassifierCheckpoint.load(
            directory: directory.appendingPathComponent(TrainingCheckpoint.linkName), pool: ThreadPool(threads: 1))
        XCTAssertEqual(loadedSettings, settings)
        XCTAssertEqual(loadedTokenizer.vocabularySize, tokenizer.vocabularySize)
        XCTAssertEqual(try loaded.predict(test.sequences, padding: encoder.paddingToken),
                       try classifier.predict(test.sequences, padding: encoder.paddingToken))
        // Saving again under the same name (a re-run into the same directory) never replaces the directory the link names.
        let first = try FileManager.default.destinationOfSymbolicLink(atPath: directory.appendingPathComponent("checkpoint").path)
        let second = try ClassifierCheckpoint.save(classifier, settings: settings, tokenizer: tokenizer, in: directory, name: "final")
        XCTAssertNotEqual(second.lastPathComponent, first)
        XCTAssertNoThrow(try ClassifierCheckpoint.load(directory: second, pool: ThreadPool(threads: 1)))
    }

    /// Stopped in the middle of an epoch and saved, a run taken up by a trainer built from other
    /// weights continues with the same losses and ends with the same weights, bit for bit.
    func testInterruptedFineTuningResumesBitForBit() throws {
        let (train, _, labels, encoder) = try separableTask()
        var options = ClassifierTrainingOptions()
        options.epochs = 3; options.batchSize = 16; options.learningRate = 3e-3
        let settings = ClassifierSettings(labels: labels, maxLength: 16, truncation: .right)

        let straight = try trainer(train, padding: encoder.paddingToken, options: options)
        var straightLosses: [Float] = [], straightMeans: [Float] = []
        for epoch in 1...3 { straightMeans.append(try straight.runEpoch(epoch) { straightLosses.append($0.loss.total) }) }

        struct Stop: Error {}
        let stopped = try trainer(train, padding: encoder.paddingToken, options: options)
        var losses: [Float] = []
        try stopped.runEpoch(1) { losses.append($0.loss.total) }
        XCTAssertThrowsError(try stopped.runEpoch(2) { r in
            losses.append(r.loss.total)
            if r.step == stopped.stepsPerEpoch + 5 { throw Stop() }
        })
        try ClassifierCheckpoint.save(stopped.classifier, settings: settings, tokenizer: tokenizer, in: directory, name: "stopped",
                                      trainer: stopped)

        let resumed = try trainer(train, padding: encoder.paddingToken, options: options, modelSeed: 77, headSeed: 78)
        try ClassifierCheckpoint.restore(resumed, settings: settings, from: directory.appendingPathComponent("checkpoint"))
        XCTAssertEqual(resumed.completedEpochs, 1)
        var means: [Float] = []
        for epoch in 2...3 { means.append(try resumed.runEpoch(epoch) { losses.append($0.loss.total) }) }
        XCTAssertEqual(losses, straightLosses)
        XCTAssertEqual(means, Array(straightMeans[1...]), "the resumed epoch's mean covers its steps before the stop too")
        func bits(_ classifier: SequenceClassifier) -> [UInt32] {
            (0..<classifier.model.layout.count).map { classifier.model.parameters[$0].bitPattern }
                + (0..<classifier.head.count).map { classifier.head.parameters[$0].bitPattern }
        }
        XCTAssertEqual(zip(bits(resumed.classifier), bits(straight.classifier)).filter { $0 != $1 }.count, 0,
                       "weights that differ from the uninterrupted run's")

        // A resume with other options, data or labels is refused, naming what differs.
        var otherRate = options
        otherRate.learningRate = 1e-3
        let saved = directory.appendingPathComponent("checkpoint")
        XCTAssertThrowsError(try ClassifierCheckpoint.restore(trainer(train, padding: encoder.paddingToken, options: otherRate),
                                                              settings: settings, from: saved)) {
            XCTAssertEqual($0 as? ClassifierResumeError, .option(name: "--learning-rate", checkpoint: "0.003", run: "0.001"))
        }
        var fewer = train
        fewer.sequences.removeLast(); fewer.labels.removeLast()
        XCTAssertThrowsError(try ClassifierCheckpoint.restore(trainer(fewer, padding: encoder.paddingToken, options: options),
                                                              settings: settings, from: saved)) {
            XCTAssertEqual($0 as? ClassifierResumeError, .data)
        }
        XCTAssertThrowsError(try ClassifierCheckpoint.restore(
            trainer(train, padding: encoder.paddingToken, options: options),
            settings: ClassifierSettings(labels: labels.reversed(), maxLength: 16, truncation: .right), from: saved)) {
            XCTAssertEqual($0 as? ClassifierResumeError, .labels(checkpoint: labels, run: labels.reversed()))
        }
    }

    func testLoadingALanguageModelAsAClassifierSaysItHasNoHead() throws {
        let model = try GPT(config: GPTConfig(vocabSize: 28, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 2),
                            seed: 1, pool: ThreadPool(threads: 1))
        try HuggingFaceGPT2.save(model, to: directory)
        XCTAssertThrowsError(try ClassifierCheckpoint.load(directory: directory, pool: ThreadPool(threads: 1))) {
            XCTAssertEqual($0 as? ClassifierCheckpointError, .noHead(path: directory.path))
        }
    }
}
