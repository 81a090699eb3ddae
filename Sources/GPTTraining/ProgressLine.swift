// What a run shows while it goes: on a terminal, one line on standard error redrawn in
// place (step, loss, last evaluation loss, learning rate, speed, elapsed, ETA); when
// standard error is not a terminal, or NO_COLOR or CI is set, the same figures as plain
// lines every 2% of the steps. Evaluation summaries (and the loop's own messages) go to
// standard output, after the live line is cleared.
import Foundation
import GPTIO

public final class ProgressLine: RunObserver {
    /// Training FLOPs per token and the machine's peak FLOP/s, for MFU (nil: not shown).
    public let flops: (perToken: Double, peak: Double)?
    public let live: Bool
    private let write: (String) -> Void
    private var lastDraw = Date.distantPast
    private var evaluationLoss: Double?
    private var started = Date()
    private var firstStep = 0
    private var totalSteps = 1
    private var drawn = false

    public init(flops: (perToken: Double, peak: Double)? = nil, write: @escaping (String) -> Void = ProgressLine.standardError) {
        self.flops = flops
        self.write = write
        live = StandardStreams.isLiveTerminal
    }

    public static func standardError(_ text: String) { StandardStreams.error(text) }

    public func runStarted(_ run: any TrainingRun) throws {
        started = Date()
        firstStep = run.stepsDone
        totalSteps = run.totalSteps
    }

    public func stepFinished(_ record: StepRecord, evaluation: EvaluationRecord?) throws {
        if !record.loss.isFinite { clear(); write("step \(record.step): loss not finite, update skipped\n") }
        if let evaluation {
            evaluationLoss = evaluation.loss
            clear()
            for line in evaluation.summary { print(line) }
        }
        let done = record.step + 1 - firstStep
        let elapsed = Date().timeIntervalSince(started)
        let eta = Double(totalSteps - record.step - 1) * elapsed / Double(max(1, done))
        var parts = ["step \(record.step)/\(totalSteps)"]
        if let detail = record.detail { parts.append(detail) }
        parts.append(String(format: "loss %.4f", record.loss))
        parts.append("eval " + (evaluationLoss.map { String(format: "%.4f", $0) } ?? "-"))
        parts.append(String(format: "lr %.2e", record.learningRate))
        if record.tokens > 0 {
            parts.append(String(format: "%.0f tok/s", record.tokensPerSecond))
            if let flops { parts.append(String(format: "MFU %.0f%%", record.tokensPerSecond * flops.perToken / flops.peak * 100)) }
        } else {
            parts.append(String(format: "%.0f ms/step", record.milliseconds))
        }
        parts.append("\(Self.clock(elapsed)) elapsed")
        parts.append("ETA \(Self.clock(eta))")
        let line = parts.joined(separator: "  ")
        let last = record.step == totalSteps - 1
        if live {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.2 || last else { return }
            lastDraw = now
            write("\r\u{1B}[2K" + line)
            drawn = true
        } else if (record.step - firstStep) % max(1, totalSteps / 50) == 0 || last {
            write(line + "\n")
        }
    }

    public func runEnded() { clear() }

    /// Ends the live line before other output.
    private func clear() {
        if live && drawn { write("\r\u{1B}[2K"); drawn = false }
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
