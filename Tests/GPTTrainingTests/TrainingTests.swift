import Foundation
import XCTest
import GPTCore
import GPTData
import GPTGeneration
import GPTKernels
import GPTTraining

final class TrainingTests: XCTestCase {
    func testScheduleWarmsUpLinearlyThenDecaysByCosineToTheFloor() {
        let s = LearningRateSchedule(maxRate: 1e-3, minRate: 1e-4, warmupSteps: 10, decaySteps: 110)
        XCTAssertEqual(s.rate(at: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 60), 5.5e-4, accuracy: 1e-9)  // halfway: the mean of max and min
        XCTAssertEqual(s.rate(at: 110), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 5000), 1e-4, accuracy: 1e-9)
        for step in 10..<110 { XCTAssertGreaterThanOrEqual(s.rate(at: step), s.rate(at: step + 1)) }
    }

    func testDemoCorpusIsDeterministicSentences() {
        let text = DemoCorpus.text(characters: 5_000, seed: 3)
        XCTAssertEqual(text, DemoCorpus.text(characters: 5_000, seed: 3))
        XCTAssertNotEqual(text, DemoCorpus.text(characters: 5_000, seed: 4))
        XCTAssertGreaterThanOrEqual(text.utf8.count, 5_000)
        for line in text.split(separator: "\n") {
            XCTAssertTrue(line.hasSuffix("."), "every line is a sentence: \(line)")
            XCTAssertTrue(line.first!.isUppercase)
        }
    }

    func testWindowsAreNextTokenPairsFromTheSequence() {
        let tokens = (0..<100).map(Int32.init)
        var windows = BatchSampler(tokens: TokenShards(tokens: tokens), seed: 1)
        let (x, y) = windows.next(batch: 3, seq: 8)
        XCTAssertEqual(x.count, 24)
        for row in 0..<3 {
            for t in 0..<8 {
                XCTAssertEqual(y[row * 8 + t], x[row * 8 + t] + 1, "y is x shifted by one")
                if t > 0 { XCTAssertEqual(x[row * 8 + t], x[row * 8 + t - 1] + 1, "a window is contiguous") }
            }
        }
        var again = BatchSampler(tokens: TokenShards(tokens: tokens), seed: 1)
        XCTAssertEqual(again.next(batch: 3, seq: 8).x, x, "same seed, same windows")
    }

    func testCorpusShorterThanAContextWindowIsAClearError() throws {
        let config = GPTConfig(vocabSize: 10, contextLength: 16, embeddingSize: 8, layerCount: 1, headCount: 2)
        let model = try GPT(config: config, seed: 1, pool: ThreadPool(threads: 1))
        XCTAssertThrowsError(try Trainer(model: model, train: [1, 2, 3], validation: Array(repeating: 1, count: 40),
                                         options: TrainingOptions())) { error in
            XCTAssertEqual(error as? TrainingError, .corpusTooShort(split: "training", tokens: 3, needed: 17))
            XCTAssert("\(error)".contains("17"))
        }
    }

    func testTrainerLearnsARepeatingSequence() throws {
        let config = GPTConfig(vocabSize: 8, contextLength: 16, embeddingSize: 32, layerCount: 2, headCount: 2)
        let model = try GPT(config: config, seed: 1, pool: ThreadPool(threads: 2))
        let tokens = (0..<2000).map { Int32($0 % 8) }
        var options = TrainingOptions()
        options.batchSize = 4; options.steps = 60; options.evalEvery = 59; options.evalBatches = 2
        options.schedule = LearningRateSchedule(maxRate: 3e-3, minRate: 3e-4, warmupSteps: 5, decaySteps: 60)
        let trainer = try Trainer(model: model, train: tokens, validation: tokens, options: options)
        var evaluations: [(train: Float, validation: Float)] = []
        try trainer.run { if let e = $0.evaluation { evaluations.append(e) } }
        XCTAssertEqual(evaluations.count, 2)
        XCTAssertLessThan(evaluations.last!.validation, 0.5, "a cycle of 8 is predictable (ln 8 = 2.08 at the start)")
        var greedy = GenerationOptions()
        greedy.maxNewTokens = 6
        greedy.sampling = SamplingOptions(temperature: 0)
        XCTAssertEqual(try Generator(model: model).generate(prompt: [0, 1, 2], options: greedy)[0], [3, 4, 5, 6, 7, 0])
    }
}

final class LossChartTests: XCTestCase {
    func testChartIsSVGWithBothSeriesLabelledAxesAndRoundTicks() throws {
        let train = (0..<300).map { (step: $0, loss: 3.5 - Double($0) / 150) }
        let validation = [(step: 0, loss: 3.4), (step: 150, loss: 2.6), (step: 299, loss: 1.6)]
        let svg = LossChart.svg(train: train, validation: validation, title: "run <1>")
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains(">step</text>") && svg.contains(">loss (nats per token)</text>"))
        XCTAssertTrue(svg.contains("run &lt;1&gt;"), "the title is escaped")
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3, "one marker per evaluation")
        for tick in ["0", "50", "100", "150", "200", "250"] { XCTAssertTrue(svg.contains(">\(tick)</text>"), tick) }
        XCTAssertEqual(svg.components(separatedBy: "<svg").count, svg.components(separatedBy: "</svg>").count)
    }
}

final class DemoLearningTests: XCTestCase {
    /// 200 steps of the demo preset bring the validation loss far below the corpus's unigram
    /// entropy (what a model that ignores context could reach).
    func testDemoPresetLearnsBeyondCharacterFrequencies() throws {
        let text = DemoCorpus.text(characters: 120_000, seed: 2)
        var counts: [Character: Int] = [:]
        for ch in text { counts[ch, default: 0] += 1 }
        let total = Double(text.count)
        let entropy = counts.values.reduce(0.0) { $0 - Double($1) / total * log(Double($1) / total) }
        let alphabet = counts.keys.sorted()
        let ids = text.map { Int32(alphabet.firstIndex(of: $0)!) }
        var config = try TrainingConfig.preset("demo")
        config.model.vocabSize = alphabet.count
        config.steps = 200
        config.evalEvery = 199
        config.evalBatches = 4
        let model = try GPT(config: config.model, seed: 1, pool: ThreadPool(threads: 2))
        let split = ids.count * 9 / 10
        let trainer = try Trainer(model: model, train: Array(ids[..<split]), validation: Array(ids[split...]), options: config.options)
        var last: Float = .infinity
        try trainer.run { if let e = $0.evaluation { last = e.validation } }
        print("demo: unigram entropy \(String(format: "%.3f", entropy)) nats, validation loss after 200 steps \(last)")
        XCTAssertLessThan(Double(last), 0.75 * entropy)
    }
}
