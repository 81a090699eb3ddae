// metrics.jsonl: one JSON object per logged step, appended and flushed as the run goes,
// so a plot or a script can follow a run that is still training. Every line has `step`,
// `lr` and `elapsed_s`, `train_loss` (or `skipped` for a step whose loss was not
// finite: JSON has no NaN), `tokens_per_sec` where the run counts tokens, the run's own
// figures, and on evaluation steps the evaluation's (`val_loss`, `test_accuracy`, …).
import Foundation
import GPTIO

public final class MetricsLog: RunObserver {
    public static let fileName = "metrics.jsonl"
    public let url: URL
    /// Log every this many steps; evaluation steps and the last step always. nil: only those.
    public let every: Int?
    private var handle: FileHandle?
    private var started = Date()
    private var totalSteps = 0

    public init(url: URL, every: Int?) {
        self.url = url
        self.every = every
    }

    deinit { try? handle?.close() }

    /// Opens the file for appending, first dropping lines of steps the run will take again
    /// (a resumed run rewrites the steps after its checkpoint).
    public func runStarted(_ run: any TrainingRun) throws {
        let fm = FileManager.default
        var kept = Data()
        if let old = fm.contents(atPath: url.path) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                   let step = object["step"] as? Int, step < run.stepsDone {
                    kept.append(contentsOf: line); kept.append(UInt8(ascii: "\n"))
                }
            }
        }
        try AtomicFile.write(kept, to: url)
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        self.handle = handle
        started = Date()
        totalSteps = run.totalSteps
    }

    public func stepFinished(_ record: StepRecord, evaluation: EvaluationRecord?) throws {
        let due = evaluation != nil || record.step == totalSteps - 1 || every.map { record.step % $0 == 0 } ?? false
        guard due, let handle else { return }
        var object: [String: Any] = ["step": record.step, "lr": Double(record.learningRate),
                                     "elapsed_s": (Date().timeIntervalSince(started) * 1000).rounded() / 1000]
        if record.tokens > 0 { object["tokens_per_sec"] = record.tokensPerSecond.rounded() }
        if record.loss.isFinite { object["train_loss"] = Double(record.loss) } else { object["skipped"] = true }
        for (key, value) in record.fields where value.isFinite { object[key] = value }
        for (key, value) in evaluation?.fields ?? [:] { object[key] = value }
        guard JSONSerialization.isValidJSONObject(object) else { return }
        var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }

    /// The values of `key` on lines of steps before `step`.
    public static func values(of key: String, in url: URL, before step: Int) -> [Double] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let s = object["step"] as? Int, s < step else { return nil }
            return (object[key] as? NSNumber)?.doubleValue
        }
    }
}
