// BLEU and chrF against sacreBLEU: hand-counted cases that need no Python, and a few hundred
// real Bible verses (../shared/data/bible-en-es-test.jsonl) with perturbed hypotheses scored
// by sacrebleu itself (Tests/scripts/sacrebleu_scores.py) where it is importable.
import Foundation
import XCTest
import GPTTraining

final class TranslationMetricsTests: XCTestCase {
    // MARK: - Hand-computed

    func testTokenizer13aSplitsPunctuationButKeepsDecimalNumbersApostrophesAndWordHyphens() {
        // Expected strings checked by hand against the four rules (and equal to sacrebleu 2.6's output).
        let cases: [(String, String)] = [
            ("Hello, world.", "Hello , world ."),
            ("U.S. troops", "U . S . troops"),
            ("it's 1,000.50 dollars", "it's 1,000.50 dollars"),
            ("well-known 3-4 pages", "well-known 3 - 4 pages"),
            ("“Quoted,” he said—then…", "“Quoted , ” he said—then…"),
            ("a.b,c 5.x x.5 ,5", "a . b , c 5 . x x . 5 , 5"),
            ("AT&amp;T &lt;b&gt;", "AT & T < b >"),
            ("end-\nof line<skipped>", "endof line"),
            ("", ""),
        ]
        for (line, expected) in cases { XCTAssertEqual(Tokenizer13a.tokenize(line), expected, "13a of \(line.debugDescription)") }
        // A space inserted before a combining mark: the tokens are split on scalars, as Python does.
        XCTAssertEqual(BLEU.words("(\u{301}x").count, 2)
    }

    func testBLEUOfHandCountedNgramsUsesExpSmoothingForTheMissingFourGram() throws {
        // 1-grams 3/4, 2-grams 2/3, 3-grams 1/2, 4-grams 0/1 → 'exp' smoothing gives 100/(2·1) = 50.
        let s = try BLEU.corpusScore(hypotheses: ["a b c d"], references: ["a b c e"])
        XCTAssertEqual(s.counts, [3, 2, 1, 0])
        XCTAssertEqual(s.totals, [4, 3, 2, 1])
        XCTAssertEqual(s.precisions[0], 75, accuracy: 1e-12)
        XCTAssertEqual(s.precisions[1], 200.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.precisions[2], 50, accuracy: 1e-12)
        XCTAssertEqual(s.precisions[3], 50, accuracy: 1e-12)
        XCTAssertEqual(s.brevityPenalty, 1)
        XCTAssertEqual(s.score, pow(75 * 200.0 / 3 * 50 * 50, 0.25), accuracy: 1e-9)  // 59.46…
        XCTAssertEqual(s.description, "BLEU = 59.46 75.0/66.7/50.0/50.0 (BP = 1.000 ratio = 1.000 hyp_len = 4 ref_len = 4)")
    }

    func testBLEUIsZeroWhenAHigherOrderHasNoNgramsAndPenalisesBrevity() throws {
        let s = try BLEU.corpusScore(hypotheses: ["a b"], references: ["a b c d"])
        XCTAssertEqual(s.counts, [2, 1, 0, 0])
        XCTAssertEqual(s.totals, [2, 1, 0, 0])
        XCTAssertEqual(s.precisions, [100, 100, 0, 0])
        XCTAssertEqual(s.brevityPenalty, exp(1 - 4.0 / 2), accuracy: 1e-15)
        XCTAssertEqual(s.score, 0)
        XCTAssertEqual(s.systemLength, 2)
        XCTAssertEqual(s.referenceLength, 4)
    }

    func testIdenticalCorpusScoresOneHundredAndEmptyHypothesesScoreZero() throws {
        let refs = ["The cat sat on the mat.", "It's 3,000 miles to the U.S. border!"]
        XCTAssertEqual(try BLEU.corpusScore(hypotheses: refs, references: refs).score, 100, accuracy: 1e-12)
        XCTAssertEqual(try ChrF.corpusScore(hypotheses: refs, references: refs), 100, accuracy: 1e-12)
        let empty = try BLEU.corpusScore(hypotheses: ["", ""], references: refs)
        XCTAssertEqual(empty.score, 0)
        XCTAssertEqual(empty.brevityPenalty, 0)
        XCTAssertEqual(empty.systemLength, 0)
        XCTAssertEqual(try ChrF.corpusScore(hypotheses: ["", ""], references: refs), 0)
    }

    func testChrFOfHandCountedCharacterNgramsAveragesOnlyOrdersPresentOnBothSides() throws {
        // Orders 1…3: matches 2/3, 1/2, 0/1 on both sides; orders 4…6 absent. P = R = 7/18, F2 = P.
        XCTAssertEqual(try ChrF.corpusScore(hypotheses: ["abc"], references: ["abd"]), 700.0 / 18, accuracy: 1e-12)
        // Whitespace does not count: "a bc" is the character sequence "abc".
        XCTAssertEqual(try ChrF.corpusScore(hypotheses: ["a b\tc"], references: ["abd"]), 700.0 / 18, accuracy: 1e-12)
    }

    func testCorpusMetricsRefuseMismatchedOrEmptyCorpora() {
        XCTAssertThrowsError(try BLEU.corpusScore(hypotheses: ["a"], references: [])) {
            XCTAssertEqual($0 as? TranslationMetricError, .countMismatch(hypotheses: 1, references: 0))
        }
        XCTAssertThrowsError(try ChrF.corpusScore(hypotheses: [], references: [])) {
            XCTAssertEqual($0 as? TranslationMetricError, .emptyCorpus)
        }
    }

    // MARK: - Against sacreBLEU

    func testBLEUAndChrFMatchSacreBLEUOnPerturbedBibleVerses() throws {
        let references = try bibleTargets(limit: 300)
        let corpora = perturbedCorpora(references)
        let lines = Self.trickyLines
        let request: [String: Any] = [
            "corpora": corpora.map { ["hypotheses": $0.hypotheses, "references": $0.references] },
            "lines": lines,
        ]
        let answer = try runSacreBLEU(request)
        let scored = answer.corpora
        XCTAssertEqual(scored.count, corpora.count)
        var worstBLEU = 0.0, worstChrF = 0.0
        for (corpus, expected) in zip(corpora, scored) {
            let bleu = try BLEU.corpusScore(hypotheses: corpus.hypotheses, references: corpus.references)
            let chrf = try ChrF.corpusScore(hypotheses: corpus.hypotheses, references: corpus.references)
            let name = corpus.name
            XCTAssertEqual(bleu.counts, expected.counts, "\(name): BLEU counts")
            XCTAssertEqual(bleu.totals, expected.totals, "\(name): BLEU totals")
            XCTAssertEqual(bleu.systemLength, expected.sys_len, "\(name): sys_len")
            XCTAssertEqual(bleu.referenceLength, expected.ref_len, "\(name): ref_len")
            XCTAssertEqual(expected.precisions.count, 4)
            for n in 0..<4 { XCTAssertEqual(bleu.precisions[n], expected.precisions[n], accuracy: 1e-9, "\(name): precision \(n + 1)") }
            XCTAssertEqual(bleu.brevityPenalty, expected.bp, accuracy: 1e-12, "\(name): bp")
            XCTAssertEqual(bleu.description, expected.text, "\(name): printed as sacrebleu prints it")
            let bleuDifference = abs(bleu.score - expected.bleu), chrfDifference = abs(chrf - expected.chrf)
            XCTAssertLessThanOrEqual(bleuDifference, 1e-9, "\(name): BLEU \(bleu.score) vs sacrebleu \(expected.bleu)")
            XCTAssertLessThanOrEqual(chrfDifference, 1e-9, "\(name): chrF \(chrf) vs sacrebleu \(expected.chrf)")
            worstBLEU = max(worstBLEU, bleuDifference.isNaN ? .infinity : bleuDifference)
            worstChrF = max(worstChrF, chrfDifference.isNaN ? .infinity : chrfDifference)
        }
        print("sacrebleu \(answer.version): \(corpora.count) corpora, worst |ΔBLEU| = \(worstBLEU), worst |ΔchrF| = \(worstChrF)")
        let tokenized = answer.tokenized
        XCTAssertEqual(tokenized.count, lines.count)
        for (line, expected) in zip(lines, tokenized) {
            let ours = BLEU.words(line).map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
            XCTAssertEqual(Array(ours.unicodeScalars), Array(expected.unicodeScalars), "13a of \(line.debugDescription)")
        }
    }

    /// Lines that exercise every 13a rule and Python's notion of whitespace.
    static let trickyLines = [
        "It's 1,000.50 pesos, not 1.000,50!", "The U.S. and U.K. (etc.) agreed.", "well-known 3-4 x-ray 10-20-30",
        "“Quoted,” he said—then… ‘single’ «guillemets» ¿Qué? ¡Hola!", "a.b,c 5.x x.5 ,5 .5. 5,", "AT&amp;T &lt;b&gt; &quot;q&quot; &amp;amp;",
        "end-\nof line<skipped> more", "non\u{00A0}breaking\u{2003}em\u{3000}ideographic\u{200B}zero-width", "tab\there\r\nCRLF\u{1C}sep",
        "e\u{0301}te\u{0301} café 👍🏽 日本語。", "trailing spaces   \u{00A0} ", "{braces} [brackets] ~tilde^ `tick` |pipe| \\back/slash @at #hash $5 %",
        "...", ",,,", "-", "- -", "9-", "x -y", "",
    ]

    /// Named hypothesis sets over the same references (the verses' Spanish side).
    private func perturbedCorpora(_ refs: [String]) -> [(name: String, hypotheses: [String], references: [String])] {
        func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }
        let dropped = refs.map { words($0).enumerated().filter { $0.offset % 3 != 1 }.map(\.element).joined(separator: " ") }
        let swapped = refs.map { line -> String in
            var w = words(line)
            var i = 0
            while i + 1 < w.count { w.swapAt(i, i + 1); i += 3 }
            return w.joined(separator: " ")
        }
        let tricky = Self.trickyLines
        let mixed = refs.enumerated().map { index, line -> String in
            switch index % 7 {
            case 0: return ""
            case 1: return line + " " + tricky[index % tricky.count]
            case 2: return tricky[(index / 7) % tricky.count] + " " + String(line.prefix(line.count / 2))
            case 3: return line.replacingOccurrences(of: ",", with: " ,").replacingOccurrences(of: ".", with: "…")
            case 4: return line.uppercased()
            case 5: return words(line).reversed().joined(separator: " ")
            default: return line
            }
        }
        let trickyRefs = tricky.indices.map { tricky[(($0 * 5) + 3) % tricky.count] + " " + tricky[$0] }
        return [
            ("identical", refs, refs),
            ("dropped every third word", dropped, refs),
            ("swapped word pairs", swapped, refs),
            ("mixed perturbations", mixed, refs),
            ("shortened to a third", refs.map { String($0.prefix($0.count / 3)) }, refs),
            ("tricky lines against each other", tricky, trickyRefs),
            ("one empty hypothesis", [""], [refs[0]]),
            ("canonically equivalent spellings do not match", ["caf\u{E9} (caf\u{E9}) na\u{EF}ve", "\u{212B}ngstr\u{F6}m (x)"],
             ["cafe\u{301} (cafe\u{301}) nai\u{308}ve", "\u{C5}ngstro\u{308}m (x)"]),
            ("dropped words, first ten", Array(dropped.prefix(10)), Array(refs.prefix(10))),
        ]
    }

    private func bibleTargets(limit: Int) throws -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/bible-en-es-test.jsonl")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("shared data file \(url.path) is absent") }
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n").prefix(limit)
        return try lines.map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try XCTUnwrap(object["target"] as? String)
        }
    }

    /// Runs Tests/scripts/sacrebleu_scores.py; skips only when `import sacrebleu` fails.
    private func runSacreBLEU(_ request: [String: Any]) throws -> SacreBLEUAnswer {
        let probe = try python(["-c", "import sacrebleu"])
        guard probe.status == 0 else { throw XCTSkip("python3 cannot import sacrebleu: BLEU and chrF not compared with it") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sacrebleu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("request.json")
        try JSONSerialization.data(withJSONObject: request).write(to: input)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/sacrebleu_scores.py")
        let run = try python([script.path, input.path])
        guard run.status == 0 else { throw ScriptFailure(status: run.status, errors: String(run.errors.suffix(2_000))) }
        return try JSONDecoder().decode(SacreBLEUAnswer.self, from: run.output)
    }

    /// python3 with standard error in a file, so neither pipe can fill and block.
    private func python(_ arguments: [String]) throws -> (status: Int32, output: Data, errors: String) {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("python-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        let handle = try FileHandle(forWritingTo: errors)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = handle
        do { try process.run() } catch { throw XCTSkip("python3 cannot run: \(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    private struct SacreBLEUAnswer: Decodable {
        struct Corpus: Decodable {
            var bleu: Double, counts: [Int], totals: [Int], precisions: [Double], bp: Double, sys_len: Int, ref_len: Int, chrf: Double
            var text: String
        }
        var corpora: [Corpus]
        var tokenized: [String]
        var version: String
    }

    /// A failure of the sacreBLEU script other than a missing import: the test fails with its words.
    private struct ScriptFailure: Error, CustomStringConvertible {
        var status: Int32, errors: String
        var description: String { "sacrebleu_scores.py failed with status \(status): \(errors)" }
    }
}
