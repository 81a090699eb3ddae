// SIGINT (Ctrl-C), SIGTERM (`timeout`, `docker stop`, Slurm) and SIGHUP (a closed
// terminal) ask a long command to stop: the run loop sees the request between steps,
// saves, and the command exits with 128 + the signal's number, as a shell reports it.
//
// The handler is a plain sigaction handler that records the signal in an atomic: it runs on
// whatever thread the kernel picks, at once. (A DispatchSource handler needs a free thread of
// libdispatch's pool, which is as wide as the CPUs the process may use; under `taskset -c 0`, a
// one-CPU container or VM, the training held that one thread and the signal was never seen.)
import Foundation
import Synchronization

/// The first stop signal since the current `StopSignals` started (0: none). A global, so the C
/// handler can reach it; it is touched before any handler is installed, so the handler never runs
/// its lazy initialisation.
private let firstStopSignal = Atomic<Int32>(0)

public final class StopSignals: @unchecked Sendable {
    /// The signals that ask a run to save and stop.
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Starts catching the signals; until then (and after `deinit`) they act as by default.
    public init() {
        firstStopSignal.store(0, ordering: .relaxed)
        for signalNumber in Self.handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signalNumber in
                _ = firstStopSignal.compareExchange(expected: 0, desired: signalNumber, ordering: .relaxed)
            }
            sigemptyset(&action.sa_mask)
            // Interrupted reads and writes restart: a signal must not fail the file I/O of a save.
            action.sa_flags = SA_RESTART
            sigaction(signalNumber, &action, nil)
        }
    }

    deinit {
        for signalNumber in Self.handled { Glibc.signal(signalNumber, SIG_DFL) }
    }

    /// The first signal received, or nil.
    public var received: Int32? {
        let s = firstStopSignal.load(ordering: .relaxed)
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
