import Foundation
import XCTest
import GPTCore
import GPTGeneration
import GPTKernels

final class StopTextTests: XCTestCase {
    /// What the scanner must produce (the quadratic way `gpt sample` did it): after each piece, the whole
    /// text so far is searched, and the first piece that completes a stop cuts the text before the earliest one.
    func reference(_ pieces: [String], _ stops: [String]) -> (text: String, stopped: Bool) {
        var whole: [UInt8] = []
        for piece in pieces {
            whole += Array(piece.utf8)
            var cut: Int?
            for stop in stops.map({ Array($0.utf8) }) where !stop.isEmpty && stop.count <= whole.count {
                for start in 0...(whole.count - stop.count) where Array(whole[start..<(start + stop.count)]) == stop {
                    cut = min(cut ?? .max, start); break
                }
            }
            if let cut { return (String(decoding: whole.prefix(cut), as: UTF8.self), true) }
        }
        return (String(decoding: whole, as: UTF8.self), false)
    }

    func testStreamedTextEqualsTheTextCutBeforeTheFirstStop() {
        var rng = SplitMix64(seed: 4)
        let alphabet = ["a", "b", "ab", "\n", "é", "日本", "ba", "🙂", ""]
        for trial in 0..<300 {
            let stops = trial % 5 == 0 ? [] : (0..<(1 + trial % 3)).map { _ in
                (0..<(1 + Int(rng.next() % 3))).map { _ in alphabet[Int(rng.next() % 8)] }.joined()
            }
            let pieces = (0..<Int(rng.next() % 30)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var scanner = StopTextScanner(stops: stops)
            var shown = ""
            for piece in pieces {
                let (ready, stopped) = scanner.append(piece)
                shown += ready
                if stopped { break }
            }
            if !scanner.stopped { shown += scanner.flush() }
            let expected = reference(pieces, stops)
            XCTAssertEqual(scanner.text, expected.text, "stops \(stops), pieces \(pieces)")
            XCTAssertEqual(shown, expected.text, "what was shown, stops \(stops)")
            XCTAssertEqual(scanner.stopped, expected.stopped)
        }
    }

    /// Issue 12, finding 15: assembling a 100,000-token sample was quadratic (1.8 k tokens/s against 43 k for
    /// short runs). 200,000 pieces now take a fraction of a second; the quadratic scan took minutes.
    func testAssemblingALongSampleIsLinear() {
        var scanner = StopTextScanner(stops: ["THE END", "\n\n\n"])
        let start = DispatchTime.now().uptimeNanoseconds
        var shown = 0
        for i in 0..<200_000 { shown += scanner.append(i % 7 == 0 ? " the\n" : "ab é").ready.utf8.count }
        shown += scanner.flush().utf8.count
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertEqual(shown, scanner.text.utf8.count)
        XCTAssertLessThan(seconds, 5, "200,000 appends took \(seconds) s")
    }

    /// The Generator keeps each sample's distinct tokens as it goes instead of rebuilding them from the whole
    /// history per token; the penalised greedy choice equals recomputing with the full history.
    func testRepetitionPenaltyFromKeptTokensEqualsFullHistory() throws {
        let gpt = try GPT(config: GPTConfig(vocabSize: 29, contextLength: 40, embeddingSize: 32, layerCount: 2, headCount: 2),
                          seed: 3, pool: ThreadPool(threads: 2))
        var options = GenerationOptions()
        options.maxNewTokens = 30
        options.sampling = SamplingOptions(temperature: 0, repetitionPenalty: 1.8)
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let generated = try Generator(model: gpt).generate(prompt: prompt, options: options)[0]
        var sequence = prompt
        var sampler = Sampler(options: options.sampling)
        var rng = SplitMix64(seed: 1)
        for _ in 0..<30 {
            try gpt.forward(tokens: sequence, targets: nil, batch: 1, seq: sequence.count)
            let last = Array(gpt.logits.suffix(29))
            sequence.append(last.withUnsafeBufferPointer { sampler.next($0, history: sequence, rng: &rng) })
        }
        XCTAssertEqual(generated, Array(sequence.dropFirst(5)))
        options.sampling.repetitionPenalty = 1
        XCTAssertNotEqual(generated, try Generator(model: gpt).generate(prompt: prompt, options: options)[0], "the penalty acts")
    }
}
