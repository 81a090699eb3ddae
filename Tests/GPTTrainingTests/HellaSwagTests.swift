// HellaSwag scoring: the batched, padded scoring equals each ending scored on its own by the
// model's own loss; truncation keeps the ending; the accuracy counts follow the losses;
// malformed lines are refused by number; and, where transformers is importable, the losses
// equal GPT2LMHeadModel's on the same ids.
import Foundation
import XCTest
import GPTCore
import GPTData
import GPTKernels
import GPTTokenizer
import GPTTraining

final class HellaSwagTests: XCTestCase {
    static let alphabet = "abcdefghijklmnopqrstuvwxyz .,"
    let tokenizer = CharTokenizer(characters: HellaSwagTests.alphabet.unicodeScalars)

    func model(context: Int = 48, seed: UInt64 = 5) throws -> GPT {
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, contextLength: context, embeddingSize: 32, layerCount: 2,
                               headCount: 4)
        return try GPT(config: config, seed: seed, pool: ThreadPool(threads: 2))
    }

    let examples = [
        HellaSwagExample(context: "the cat sat on the", endings: ["mat.", "dog", "a very long ending that goes on", "x"], label: 0),
        HellaSwagExample(context: "a man is", endings: ["running", "walking fast", "sleeping.", "eating, then"], label: 2),
        HellaSwagExample(context: "", endings: ["ab", "ba", "abc", "cab"], label: 1),
    ]

    /// The summed loss of `ending` after `context` from the model's own forward pass on that
    /// row alone: targets outside the ending are ignored (−1), so the mean times the count is the sum.
    func directSum(_ model: GPT, context: [Int], ending: [Int]) throws -> (sum: Double, count: Int) {
        var row = context + ending
        let window = model.config.contextLength + 1
        if row.count > window { row.removeFirst(row.count - window) }
        let scored = min(ending.count, row.count - 1)
        let x = row.dropLast().map(Int32.init)
        let y = (1..<row.count).map { $0 >= row.count - scored ? Int32(row[$0]) : -1 }
        let mean = try model.forward(tokens: x, targets: y, batch: 1, seq: x.count)!
        return (Double(mean) * Double(scored), scored)
    }

    func testBatchedScoresEqualEachEndingScoredAlone() throws {
        let model = try self.model()
        for (index, example) in examples.enumerated() {
            let score = try HellaSwag.score(example, index: index, model: model, tokenizer: tokenizer)
            XCTAssertEqual(score.endingIDs.count, 4)
            for k in 0..<4 {
                XCTAssertEqual(score.endingIDs[k], try tokenizer.encode(" " + example.endings[k]))
                let direct = try directSum(model, context: score.contextIDs, ending: score.endingIDs[k])
                XCTAssertEqual(score.scoredTokens[k], direct.count)
                XCTAssertEqual(score.sumLosses[k], direct.sum, accuracy: 2e-5 * max(1, direct.sum), "example \(index) ending \(k)")
                XCTAssertEqual(score.meanLosses[k], score.sumLosses[k] / Double(direct.count), accuracy: 1e-12)
            }
        }
    }

    func testAContextLongerThanTheWindowLosesItsOldestTokensAndKeepsTheEnding() throws {
        let model = try self.model(context: 16)
        let example = HellaSwagExample(context: String(repeating: "the cat sat on the mat. ", count: 4),
                                       endings: ["then it slept", "dog", "ran", "a"], label: 0)
        let score = try HellaSwag.score(example, model: model, tokenizer: tokenizer)
        XCTAssertTrue(score.truncated)
        XCTAssertEqual(score.scoredTokens, score.endingIDs.map(\.count))
        for k in 0..<4 {
            let direct = try directSum(model, context: score.contextIDs, ending: score.endingIDs[k])
            XCTAssertEqual(score.sumLosses[k], direct.sum, accuracy: 2e-5 * max(1, direct.sum))
        }
    }

    func testAccuracyCountsTheEndingsWithTheLowestLosses() throws {
        let model = try self.model()
        let (result, scores) = try HellaSwag.evaluate(model: model, tokenizer: tokenizer, examples: examples)
        XCTAssertEqual(result.examples, 3)
        XCTAssertEqual(result.correct, scores.filter { $0.sumLosses.min() == $0.sumLosses[$0.label] }.count)
        XCTAssertEqual(result.correctNormalized, scores.filter { $0.meanLosses.min() == $0.meanLosses[$0.label] }.count)
        // The long ending's summed loss is the largest: `acc` punishes length, `acc_norm` does not.
        XCTAssertEqual(scores[0].sumLosses.indices.max { scores[0].sumLosses[$0] < scores[0].sumLosses[$1] }, 2)
    }

    func testMalformedLinesAreRefusedByNumber() {
        let cases: [(String, String)] = [
            (#"{"ctx": "a", "endings": ["b", "c"], "label": 0}"# + "\nnot json", "2: not a JSON object"),
            (#"{"endings": ["b", "c"], "label": 0}"#, "1: \"ctx\" must be a string"),
            (#"{"ctx": "a", "endings": ["b", 3], "label": 0}"#, "1: \"endings\" must be an array of strings"),
            (#"{"ctx": "a", "endings": ["b"], "label": 0}"#, "1: \"endings\" must hold at least two strings"),
            (#"{"ctx": "a", "endings": ["b", "c"], "label": 2}"#, "1: \"label\" 2 is not an index of the 2 endings"),
            (#"{"ctx": "a", "endings": ["b", "c"], "label": true}"#, "1: \"label\" must be an integer"),
            (#"{"ctx": "a", "endings": ["b", "c"], "label": 0.5}"#, "1: \"label\" must be an integer"),
            ("\n\n", "1: no examples in the file"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try HellaSwagExample.parse(Data(text.utf8), path: "h.jsonl"), message) {
                XCTAssertEqual("\($0)", "h.jsonl:\(message)")
            }
        }
        XCTAssertEqual(try HellaSwagExample.parse(Data(#"{"ctx": "a", "endings": ["b", "c"], "label": 1, "ind": 4}"#.utf8), path: "h"),
                       [HellaSwagExample(context: "a", endings: ["b", "c"], label: 1)])
    }

    static let transformersScript = """
    import json, sys, torch
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel.from_pretrained(sys.argv[1]).float().eval()
    window = model.config.n_positions + 1
    out = []
    for line in open(sys.argv[2]):
        e = json.loads(line)
        sums = []
        for ending in e["ending_ids"]:
            row = (e["context_ids"] + ending)[-window:]
            scored = min(len(ending), len(row) - 1)
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([row[:-1]])).logits[0].double()
            losses = torch.nn.functional.cross_entropy(logits, torch.tensor(row[1:]), reduction="none")
            sums.append(losses[-scored:].sum().item())
        out.append(sums)
    json.dump(out, open(sys.argv[3], "w"))
    """

    func testLossesEqualTransformersGPT2OnTheSameIds() throws {
        func python(_ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3"] + arguments
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard (try? python(["-c", "import torch, transformers"])) == 0 else {
            throw XCTSkip("python3 with torch and transformers is not installed: HellaSwag not checked against GPT2LMHeadModel")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hellaswag-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try self.model(context: 20, seed: 9)
        try HuggingFaceGPT2.save(model, to: directory)
        let (_, scores) = try HellaSwag.evaluate(model: model, tokenizer: tokenizer, examples: examples)
        let lines = try scores.map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["context_ids": $0.contextIDs, "ending_ids": $0.endingIDs]),
                   as: UTF8.self)
        }
        let input = directory.appendingPathComponent("scores.jsonl"), output = directory.appendingPathComponent("sums.json")
        try Data(lines.joined(separator: "\n").utf8).write(to: input)
        let script = directory.appendingPathComponent("score.py")
        try Self.transformersScript.write(to: script, atomically: true, encoding: .utf8)
        XCTAssertEqual(try python([script.path, directory.path, input.path, output.path]), 0, "the Python side failed")
        let theirs = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as! [[Double]]
        XCTAssertEqual(theirs.count, scores.count)
        for (ours, reference) in zip(scores, theirs) {
            for (a, b) in zip(ours.sumLosses, reference) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        }
    }
}
