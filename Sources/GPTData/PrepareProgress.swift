// Progress of `gpt prepare`, reported after each parallel batch.
import Foundation

public struct PrepareProgress: Sendable {
    /// Which pass: "scan" (character inventory), "count" (chunk counting) or "encode".
    public var phase: String
    public var bytesDone: Int
    public var totalBytes: Int
    public var elapsedSeconds: Double

    public var megabytesPerSecond: Double {
        elapsedSeconds > 0 ? Double(bytesDone) / 1e6 / elapsedSeconds : 0
    }

    /// Estimated seconds left at the current rate, nil before any progress.
    public var etaSeconds: Double? {
        guard bytesDone > 0, totalBytes >= bytesDone else { return nil }
        return elapsedSeconds * Double(totalBytes - bytesDone) / Double(bytesDone)
    }
}
