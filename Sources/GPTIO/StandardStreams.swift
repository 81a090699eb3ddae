// Writing to standard output and standard error without ever trapping. Foundation's
// `FileHandle.write(_: Data)` traps on a failed write; a reader that closes the pipe
// early (`gpt sample | head -1`, with SIGPIPE ignored as some shells and subprocess
// callers set it) must instead end the command quietly.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum StandardStreams {
    /// Writes `text` to standard output, unbuffered; on a closed pipe, exits quietly with status 0.
    public static func output(_ text: String) {
        fflush(stdout)  // keep order with print()
        if !write(text, to: STDOUT_FILENO) { exit(0) }
    }

    /// Whether standard error is a terminal a progress line may redraw in place (not under CI
    /// or NO_COLOR); elsewhere progress is printed as plain lines.
    public static var isLiveTerminal: Bool {
        let environment = ProcessInfo.processInfo.environment
        return isatty(STDERR_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["CI"] == nil
    }

    /// Writes raw bytes (which may not be UTF-8) to standard output, as `output` does.
    public static func output(bytes: [UInt8]) {
        fflush(stdout)
        if !write(bytes, to: STDOUT_FILENO) { exit(0) }
    }

    /// Writes `text` to standard error; a closed standard error is ignored.
    public static func error(_ text: String) {
        _ = write(text, to: STDERR_FILENO)
    }

    /// Whether every byte was written (false on EPIPE or another error).
    private static func write(_ text: String, to descriptor: Int32) -> Bool { write(Array(text.utf8), to: descriptor) }

    private static func write(_ source: [UInt8], to descriptor: Int32) -> Bool {
        var bytes = source
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}
