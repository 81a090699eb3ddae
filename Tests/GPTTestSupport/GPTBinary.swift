// The `gpt` executable as the command tests run it: one launcher for every test target, so each
// test reads the same binary and no pipe can stall the child (stdout and stderr drain together).
import Foundation

public enum GPTBinary {
    /// The checkout this file belongs to.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `gpt` beside the test bundle (swift build --build-tests puts it there), else this checkout's
    /// .build/release/gpt; nil when neither is built.
    public static var url: URL? {
        [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"),
         repository.appendingPathComponent(".build/release/gpt")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    public struct NotBuilt: Error, CustomStringConvertible {
        public var description: String { "the gpt binary is not built next to the tests (run swift build -c release --build-tests)" }
    }

    /// Runs gpt with `arguments` (and `environment` over the inherited one) to its exit; returns
    /// (status, stdout, stderr).
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        guard let url else { throw NotBuilt() }
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drain stderr on another thread while this one reads stdout: a child that fills one pipe
        // while we block on the other would never exit.
        let stderr = Drained()
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            stderr.data = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr.data, as: UTF8.self))
    }
}

/// stderr's bytes, written by the draining thread before it signals and read only after the wait.
private final class Drained: @unchecked Sendable {
    var data = Data()
}
