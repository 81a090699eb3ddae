// SIGINT (Ctrl-C), SIGTERM (`timeout`, `docker stop`, Slurm) and SIGHUP (a closed
// terminal) ask a long command to stop: the run loop sees the request between steps,
// saves, and the command exits with 128 + the signal's number, as a shell reports it.
import Foundation
import Synchronization

public final class StopSignals: @unchecked Sendable {
    /// The signals that ask a run to save and stop.
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    private let first = Atomic<Int32>(0)
    private var sources: [DispatchSourceSignal] = []

    /// Starts catching the signals; until then (and after `deinit`) they act as by default.
    public init() {
        for signalNumber in Self.handled {
            Glibc.signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [unowned self] in
                _ = self.first.compareExchange(expected: 0, desired: signalNumber, ordering: .relaxed)
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        for signalNumber in Self.handled { Glibc.signal(signalNumber, SIG_DFL) }
    }

    /// The first signal received, or nil.
    public var received: Int32? {
        let s = first.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// The exit status a shell reports for a process ended by `signal`: 130, 143, 129.
    public static func exitStatus(_ signal: Int32) -> Int32 { 128 + signal }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }
}
