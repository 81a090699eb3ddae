// metrics.jsonl: one JSON object per training step, appended and flushed as the run
// goes, so a plot or a script can follow a run that is still training.
import Foundation

public final class MetricsLog {
    private let handle: FileHandle

    /// Opens `url` for appending (creating it), first dropping lines of steps ≥ `fromStep`
    /// (a resumed run rewrites the steps it repeats).
    public init(url: URL, fromStep: Int) throws {
        let fm = FileManager.default
        var kept = Data()
        if let old = fm.contents(atPath: url.path) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                   let step = object["step"] as? Int, step < fromStep {
                    kept.append(contentsOf: line); kept.append(UInt8(ascii: "\n"))
                }
            }
        }
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try kept.write(to: url)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Appends one step's figures.
    public func write(_ report: StepReport, elapsedSeconds: Double) throws {
        var object: [String: Any] = [
            "step": report.step, "lr": Double(report.learningRate),
            "tokens_per_sec": report.tokensPerSecond.rounded(), "elapsed_s": (elapsedSeconds * 1000).rounded() / 1000,
        ]
        // A skipped step (non-finite loss) is logged without a loss: JSON has no NaN.
        if report.loss.isFinite { object["train_loss"] = Double(report.loss) } else { object["skipped"] = true }
        if let e = report.evaluation {
            object["val_loss"] = Double(e.validation)
            object["eval_train_loss"] = Double(e.train)
        }
        guard JSONSerialization.isValidJSONObject(object) else { return }
        var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
