// `gpt finetune classify`, `gpt classify` and `gpt finetune lm` end to end on a tiny
// character-level model, and the one-line errors for bad labeled data.
import Foundation
import XCTest

extension CommandLineTests {
    static let sentences = ["the film is good and warm", "a bad and dull film", "good acting, good story", "dull, bad, long",
                            "warm and good", "a long bad mess", "the story is good", "bad film"]

    /// A 1-layer character model pre-trained for a few steps on text holding every character the tests use.
    func pretrained() throws -> String {
        let corpus = work.appendingPathComponent("corpus.txt")
        try String(repeating: Self.sentences.joined(separator: ".\n") + ".\n", count: 40).write(to: corpus, atomically: true, encoding: .utf8)
        let run = work.appendingPathComponent("pre").path
        let (status, _, err) = try gpt("train", "--data", corpus.path, "--steps", "20", "--eval-every", "0", "--set", "n_layer=1",
                                       "--set", "n_positions=32", "--out", run)
        XCTAssertEqual(status, 0, err)
        return run
    }

    func write(_ name: String, _ lines: [String]) throws -> String {
        let url = work.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func labeled(_ count: Int) -> [String] {
        (0..<count).map { i in
            let s = Self.sentences[i % Self.sentences.count]
            return "{\"text\": \"\(s)\", \"label\": \"\(s.contains("good") ? "pos" : "neg")\"}"
        }
    }

    func testFinetuneClassifyTrainsSavesAndClassifies() throws {
        let base = try pretrained()
        let train = try write("train.jsonl", labeled(64))
        // The test file as CSV, to cover the other format.
        let test = try write("test.csv", ["text,label"] + Self.sentences.map { "\"\($0)\",\($0.contains("good") ? "pos" : "neg")" })
        let out = work.appendingPathComponent("clf").path
        let (status, stdout, err) = try gpt("finetune", "classify", "--checkpoint", base, "--train", train, "--test", test,
                                            "--out", out, "--epochs", "2", "--learning-rate", "1e-3", "--json")
        XCTAssertEqual(status, 0, err)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.split(separator: "\n").last!.utf8)) as? [String: Any])
        XCTAssertEqual(result["epochs"] as? Int, 2)
        // Accuracy and macro-F1 are those of the printed confusion matrix over the 8 test sentences.
        let accuracy = try XCTUnwrap(result["test_accuracy"] as? Double)
        let confusion = try XCTUnwrap(result["confusion_matrix"] as? [[Int]])
        XCTAssertEqual(result["labels"] as? [String], ["neg", "pos"])
        XCTAssertEqual(confusion.map { $0.reduce(0, +) }, [4, 4], "4 sentences of each label, each counted once")
        XCTAssertEqual(accuracy, Double(confusion[0][0] + confusion[1][1]) / 8, accuracy: 1e-12)
        let f1 = (0..<2).map { k -> Double in
            let tp = Double(confusion[k][k]), predicted = Double(confusion[0][k] + confusion[1][k])
            return tp == 0 ? 0 : 2 * tp / (predicted + Double(confusion[k].reduce(0, +)))
        }
        XCTAssertEqual(try XCTUnwrap(result["test_macro_f1"] as? Double), (f1[0] + f1[1]) / 2, accuracy: 1e-12)
        // The test sentences are the training sentences, so a classifier that learned anything beats chance
        // (0.5 for these two balanced labels); today it gets all 8 right.
        XCTAssertGreaterThan(accuracy, 0.5, "test accuracy \(accuracy), confusion \(confusion)")
        XCTAssertTrue(stdout.contains("actual \\ predicted"), "the confusion matrix is printed")
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 2)

        let (classified, json, classifyErr) = try gpt("classify", "--checkpoint", out, "a good film", "bad and dull", "--json")
        XCTAssertEqual(classified, 0, classifyErr)
        let predictions = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(json.split(separator: "\n").last!.utf8))
                                         as? [String: Any])?["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 2)
        for p in predictions {
            XCTAssertTrue(["neg", "pos"].contains(p["label"] as? String ?? ""))
            let probabilities = try XCTUnwrap(p["probabilities"] as? [String: Double])
            XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-5)
        }
        // --input: a plain text file (one text per line) and JSON Lines without labels give one prediction per text.
        for (name, lines) in [("texts.txt", ["a good film", "", "bad and dull"]),
                              ("texts.jsonl", ["{\"text\": \"a good film\"}", "{\"text\": \"bad and dull\"}"])] {
            let (status, output, error) = try gpt("classify", "--checkpoint", out, "--input", try write(name, lines), "--json")
            XCTAssertEqual(status, 0, error)
            let object = try JSONSerialization.jsonObject(with: Data(output.split(separator: "\n").last!.utf8)) as? [String: Any]
            XCTAssertEqual((object?["predictions"] as? [Any])?.count, 2, name)
        }
        // The classifier is still a language model for gpt sample (the score head is skipped).
        XCTAssertEqual(try gpt("sample", "--checkpoint", out, "--prompt", "the", "--max-new-tokens", "5").0, 0)
        // Converting it keeps the language model and says that the head was left behind.
        let (converted, _, convertErr) = try gpt("convert", "--from", out, "--to", work.appendingPathComponent("lm-hf").path)
        XCTAssertEqual(converted, 0, convertErr)
        XCTAssertTrue(convertErr.contains("only its language model was converted"), convertErr)
    }

    /// Ctrl-C in the middle of fine-tuning saves the classifier with its optimizer state; the same
    /// command with --resume then ends with the metrics and weights of a run that never stopped.
    func testInterruptedFinetuneClassifyResumesExactly() throws {
        let base = try pretrained()
        let train = try write("train.jsonl", labeled(1000)), test = try write("test.jsonl", labeled(16))
        func arguments(_ out: String) -> [String] {
            ["finetune", "classify", "--checkpoint", base, "--train", train, "--test", test, "--out", work.path + "/" + out,
             "--epochs", "2", "--batch-size", "4", "--dropout", "0.1", "--learning-rate", "1e-3"]
        }
        XCTAssertEqual(try gpt(arguments("straight")).0, 0)

        let process = Process()
        process.executableURL = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"), Self.binary]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        process.arguments = arguments("stopped")
        process.environment = ProcessInfo.processInfo.environment.merging(["CI": "1"]) { $1 }  // plain progress lines
        let output = Pipe(), progress = Pipe()
        process.standardOutput = output
        process.standardError = progress
        try process.run()
        var seen = ""
        while !seen.contains("step "), case let chunk = progress.fileHandleForReading.availableData, !chunk.isEmpty {
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = progress.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, printed)
        XCTAssertTrue(printed.contains("interrupted in epoch 1"), printed)

        let (status, resumed, err) = try gpt(arguments("stopped") + ["--resume"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(resumed.contains("resuming after step"), resumed)
        func metrics(_ out: String) throws -> [NSDictionary] {
            try String(contentsOfFile: work.path + "/\(out)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return object.filter { $0.key != "elapsed_s" } as NSDictionary  // all but the wall-clock time
            }
        }
        XCTAssertEqual(try metrics("stopped"), try metrics("straight"))
        XCTAssertEqual(try metrics("straight").count, 2)
        let weights = { (out: String) in FileManager.default.contents(atPath: self.work.path + "/\(out)/checkpoint/model.safetensors") }
        XCTAssertNotNil(weights("straight"))
        XCTAssertEqual(weights("stopped"), weights("straight"), "the resumed run ends with the same weights, bit for bit")
        XCTAssertTrue(try gpt(arguments("stopped") + ["--resume"]).1.contains("is complete"))
    }

    func testFinetuneClassifyRefusesBadLabeledData() throws {
        let base = try pretrained()
        let good = try write("good.jsonl", labeled(16))
        func failure(_ arguments: [String]) throws -> String {
            let (status, _, err) = try gpt(arguments)
            XCTAssertNotEqual(status, 0)
            XCTAssertEqual(err.split(separator: "\n").count, 1, "one line: \(err)")
            return err
        }
        let oneClass = try write("one.jsonl", ["{\"text\": \"good film\", \"label\": 1}", "{\"text\": \"bad film\", \"label\": 1}"])
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", oneClass, "--test", good, "--out", work.path + "/x"])
            .contains("at least two classes"))
        let unknown = try write("unknown.jsonl", ["{\"text\": \"good film\", \"label\": \"pos\"}", "{\"text\": \"dull\", \"label\": \"meh\"}"])
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", good, "--test", unknown, "--out", work.path + "/x"])
            .contains("unknown.jsonl:2: label 'meh' does not occur in the training data"))
        let empty = try write("empty.jsonl", ["{\"text\": \"good film\", \"label\": \"pos\"}", "{\"text\": \"  \", \"label\": \"neg\"}"])
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", empty, "--test", good, "--out", work.path + "/x"])
            .contains("empty.jsonl:2"))
        let noLabel = try write("nolabel.jsonl", ["{\"text\": \"good film\"}"])
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", noLabel, "--test", good, "--out", work.path + "/x"])
            .contains("nolabel.jsonl:1"))
        XCTAssertTrue(try failure(["classify", "--checkpoint", base, "good"]).contains("no classification head"))
        // Writing into the run that holds the pre-trained checkpoint would delete it.
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", good, "--test", good, "--out", base])
            .contains("holds the checkpoint being read"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: base + "/checkpoint/model.safetensors"))
        // An ID column picked by mistake: one class per example.
        let ids = try write("ids.jsonl", (0..<40).map { "{\"text\": \"good film\", \"label\": \($0)}" })
        XCTAssertTrue(try failure(["finetune", "classify", "--checkpoint", base, "--train", ids, "--test", good, "--out", work.path + "/x",
                                   "--max-classes", "30"]).contains("40 distinct labels, more than --max-classes 30"))
        // A rate that blows the weights up is reported as such, not as a JSON error.
        let (status, _, blown) = try gpt(["finetune", "classify", "--checkpoint", base, "--train", good, "--test", good,
                                          "--out", work.path + "/y", "--learning-rate", "1e30", "--json"])
        XCTAssertNotEqual(status, 0)
        let last = String(blown.split(separator: "\n").last ?? "")
        XCTAssertTrue(last.hasPrefix("Error:") && last.contains("not finite"), blown)
    }

    func testFinetuneLMContinuesTrainingAndNamesUnencodableCharacters() throws {
        let base = try pretrained()
        let more = try write("more.txt", [String(repeating: "good story, warm film. ", count: 30)])
        let out = work.appendingPathComponent("lm").path
        let (status, _, err) = try gpt("finetune", "lm", "--checkpoint", base, "--data", more, "--out", out, "--steps", "6",
                                       "--eval-every", "3")
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(try losses(out).count, 6)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint/model.safetensors"))

        let foreign = try write("foreign.txt", [String(repeating: "good story Ω ü. ", count: 30)])
        let (refused, _, message) = try gpt("finetune", "lm", "--checkpoint", base, "--data", foreign, "--out", out + "2")
        XCTAssertNotEqual(refused, 0)
        XCTAssertTrue(message.contains("2 character(s)") && message.contains("U+03A9 'Ω' ×30") && message.contains("U+00FC 'ü' ×30"), message)
    }
}
