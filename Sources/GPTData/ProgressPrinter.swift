// A one-line progress bar on standard error for `gpt prepare` and `gpt tokenizer train`:
// bytes done, MB/s and ETA, redrawn at most five times a second on a terminal; elsewhere
// (a log, CI, NO_COLOR) a plain line every 10 seconds and at the end of each pass.
import Foundation
import GPTIO

public final class ProgressPrinter {
    private let live = StandardStreams.isLiveTerminal
    private var lastDraw = Date.distantPast
    private var drewSomething = false
    private var phase = ""

    public init() {}

    public func update(_ progress: PrepareProgress) {
        if progress.phase != phase {
            finish()   // each pass gets its own line
            phase = progress.phase
            lastDraw = .distantPast
        }
        let now = Date()
        let done = progress.bytesDone >= progress.totalBytes
        guard now.timeIntervalSince(lastDraw) >= (live ? 0.2 : 10) || done else { return }
        lastDraw = now
        let width = 30
        let fraction = progress.totalBytes > 0 ? min(1, Double(progress.bytesDone) / Double(progress.totalBytes)) : 0
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = progress.etaSeconds.map { String(format: "ETA %.0fs", $0) } ?? "ETA ?"
        let line = String(format: (live ? "\r" : "") + "%@ [%@] %.1f/%.1f MB  %.1f MB/s  %@   ", progress.phase, bar,
                          Double(progress.bytesDone) / 1e6, Double(progress.totalBytes) / 1e6,
                          progress.megabytesPerSecond, eta)
        StandardStreams.error(live ? line : line.trimmingCharacters(in: .whitespaces) + "\n")
        drewSomething = live
    }

    /// Ends the progress line so later output starts on a fresh line.
    public func finish() {
        if drewSomething { StandardStreams.error("\n") }
        drewSomething = false
    }
}
