// What `gpt train` shows while it runs: on a terminal, one line on standard error
// redrawn in place (step, loss, last validation loss, learning rate, tokens/s, MFU,
// elapsed, ETA); when output is not a terminal, or NO_COLOR or CI is set, the same
// figures as plain lines every `plainEvery` steps.
import Foundation
import GPTTraining

final class TrainingProgress {
    let totalSteps: Int
    let flopsPerToken: Double
    let peakFlops: Double
    let live: Bool
    let plainEvery: Int
    private var lastDraw = Date.distantPast
    private var validation: Float?
    private let started = Date()
    private var firstStep: Int?

    init(totalSteps: Int, flopsPerToken: Double, peakFlops: Double) {
        self.totalSteps = totalSteps
        self.flopsPerToken = flopsPerToken
        self.peakFlops = peakFlops
        let environment = ProcessInfo.processInfo.environment
        live = isatty(STDERR_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["CI"] == nil
        plainEvery = max(1, totalSteps / 50)
    }

    func update(_ r: StepReport) {
        if firstStep == nil { firstStep = r.step }
        if let e = r.evaluation { validation = e.validation }
        let done = r.step + 1 - (firstStep ?? 0)
        let elapsed = Date().timeIntervalSince(started)
        let eta = Double(totalSteps - r.step - 1) * elapsed / Double(max(1, done))
        let mfu = r.tokensPerSecond * flopsPerToken / peakFlops
        let line = String(format: "step %d/%d  loss %.4f  val %@  lr %.2e  %.0f tok/s  MFU %.0f%%  %@ elapsed  ETA %@",
                          r.step, totalSteps, r.loss, validation.map { String(format: "%.4f", $0) } ?? "-",
                          r.learningRate, r.tokensPerSecond, mfu * 100, clock(elapsed), clock(eta))
        if live {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.2 || r.step == totalSteps - 1 else { return }
            lastDraw = now
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        } else if r.step % plainEvery == 0 || r.step == totalSteps - 1 {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends the live line before other output is printed.
    func clearLine() {
        if live { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    func finish() {
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
