// Translation of many sources at once (what `gpt eval --pairs` runs) against one source at a time:
// greedy against BeamSearch.greedy, beam search against BeamSearch.search over Seq2SeqBeams. The
// same tokens, the same log-probability and score bits and the same EOS flag for every source,
// across the decoder's 32-row groups and as sources finish at different steps.
import XCTest
import GPTCore
import GPTGeneration
import GPTKernels
import GPTTokenizer

final class TranslatorBatchTests: XCTestCase {
    /// A small random model (vocabulary 11, 2 + 2 layers of 16) and `count` random sources of 1...14 tokens.
    func translatorAndSources(count: Int, seed: UInt64) throws -> (Translator, [[Int32]]) {
        let pool = try ThreadPool(threads: 2)
        let config = Seq2SeqConfig(vocabSize: 11, modelSize: 16, headCount: 2, feedForwardSize: 24, encoderLayerCount: 2,
                                   decoderLayerCount: 2, dropout: 0, maxPositions: 16, finalNorm: false)
        let model = try Seq2SeqTransformer(config: config, seed: 12, pool: pool)
        var rng = SplitMix64(seed: seed)
        let sources = (0..<count).map { _ in (0..<(1 + Int(rng.next() % 14))).map { _ in Int32(3 + rng.next() % 8) } }
        return (Translator(model: model, tokenizer: CharTokenizer(characters: "abcdefghijk".unicodeScalars)), sources)
    }

    func testBatchedGreedyEqualsOneSourceAtATime() throws {
        let (translator, sources) = try translatorAndSources(count: 45, seed: 5)
        let batched = try translator.translate(sources, beam: 1, maxLength: 12)
        var oneByOne: [Translation] = []
        for source in sources { oneByOne += try translator.translate([source], beam: 1, maxLength: 12, onToken: { _, _ in }) }
        XCTAssertEqual(batched.count, sources.count)
        for (i, (a, b)) in zip(batched, oneByOne).enumerated() {
            XCTAssertEqual(a.ids, b.ids, "source \(i)")
            XCTAssertEqual(a.logProbability.bitPattern, b.logProbability.bitPattern, "source \(i)")
            XCTAssertEqual(a.endedWithEOS, b.endedWithEOS, "source \(i)")
            XCTAssertEqual(a.text, b.text, "source \(i)")
        }
        let lengths = Set(batched.filter(\.endedWithEOS).map(\.ids.count))
        print("batched greedy: \(batched.filter(\.endedWithEOS).count) of \(sources.count) ended with EOS, at lengths \(lengths.sorted())")
        XCTAssertGreaterThan(lengths.count, 1, "rows must finish at different steps for the test to exercise the reorder")
        XCTAssert(batched.contains { !$0.endedWithEOS }, "some row must run to the length cap")
    }

    func testBatchedBeamSearchEqualsOneSourceAtATime() throws {
        let (translator, sources) = try translatorAndSources(count: 23, seed: 9)
        for beam in [3, 5] {
            let batched = try translator.translate(sources, beam: beam, maxLength: 12)
            XCTAssertEqual(batched.count, sources.count)
            for (i, source) in sources.enumerated() {
                let alone = try translator.translate([source], beam: beam, maxLength: 12)[0]
                XCTAssertEqual(batched[i].ids, alone.ids, "beam \(beam), source \(i)")
                XCTAssertEqual(batched[i].logProbability.bitPattern, alone.logProbability.bitPattern, "beam \(beam), source \(i)")
                XCTAssertEqual(batched[i].score.bitPattern, alone.score.bitPattern, "beam \(beam), source \(i)")
                XCTAssertEqual(batched[i].endedWithEOS, alone.endedWithEOS, "beam \(beam), source \(i)")
            }
            let lengths = Set(batched.map(\.ids.count))
            print("batched beam \(beam): \(sources.count) sources, lengths \(lengths.sorted()), "
                  + "\(batched.filter(\.endedWithEOS).count) ended with EOS")
            XCTAssertGreaterThan(lengths.count, 1, "searches must end at different steps for the test to exercise the regrouping")
        }
    }
}
