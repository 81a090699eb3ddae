// The options of `gpt serve`, checked in one place.
import Foundation

public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 lets the system pick a free port (the tests do).
    public var port = 8080
    /// The name clients pass as `model`, and /v1/models lists.
    public var modelName = "gpt"
    /// When set, every /v1 and tokenizer request needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Cache slots: the most sequences decoded together in one forward pass, and the largest `n`.
    public var maxBatch = 8
    /// Requests that may wait for the engine; more are refused with 503 and Retry-After.
    public var maxQueue = 64
    /// The largest request body in bytes; larger ones are refused with 413.
    public var maxBody = 1 << 20
    /// Seconds a request may take, waiting included; then it ends ("length") or fails (503).
    public var requestTimeout: TimeInterval = 600
    /// Seconds between `: ping` comments on a stream that has nothing to send yet (a long prefill).
    public var pingInterval: TimeInterval = 5
    /// Prompt tokens prefilled per engine step while other sequences decode.
    public var prefillChunk = 32

    public init() {}

    public func validate() throws {
        guard (0...65535).contains(port) else { throw ServerError.invalidOption("--port must be in 0...65535, got \(port)") }
        guard (1...256).contains(maxBatch) else { throw ServerError.invalidOption("--max-batch must be in 1...256, got \(maxBatch)") }
        guard (1...100_000).contains(maxQueue) else { throw ServerError.invalidOption("--max-queue must be in 1...100000, got \(maxQueue)") }
        guard (1...(1 << 30)).contains(maxBody) else { throw ServerError.invalidOption("--max-body must be in 1 byte...1 GB, got \(maxBody)") }
        guard requestTimeout > 0, requestTimeout.isFinite else {
            throw ServerError.invalidOption("--request-timeout must be > 0 seconds, got \(requestTimeout)")
        }
        guard (1...4096).contains(prefillChunk) else {
            throw ServerError.invalidOption("--prefill-chunk must be in 1...4096, got \(prefillChunk)")
        }
        guard pingInterval > 0, pingInterval <= 3600 else {
            throw ServerError.invalidOption("--ping-interval must be in (0, 3600] seconds, got \(pingInterval)")
        }
        guard !modelName.isEmpty else { throw ServerError.invalidOption("--model-name must not be empty") }
        if let apiKey, apiKey.isEmpty { throw ServerError.invalidOption("--api-key must not be empty") }
    }

    /// "1MB", "512KB", "1048576": a byte count as --max-body takes it.
    public static func parseByteCount(_ text: String) -> Int? {
        let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)] where upper.hasSuffix(suffix) {
            guard let n = Int(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return Int(upper)
    }
}
