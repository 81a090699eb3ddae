// The text of one streamed sample, cut before the first stop text (`gpt sample --stop`).
// Work per appended piece is proportional to the piece (plus the longest stop), never
// to the text so far: only a match that ends in the new bytes can be new, and text is
// released by byte offset. (Scanning the whole text per token, counting its Characters
// and re-slicing it made a 100,000-token sample quadratic: issue 12, finding 15.)
// Stops match as UTF-8 byte sequences, i.e. code unit for code unit.

public struct StopTextScanner: Sendable {
    public let stops: [String]
    private let stopBytes: [[UInt8]]
    /// Bytes that can still turn out to begin a stop: the longest stop's length − 1.
    private let holdBack: Int
    private var bytes: [UInt8] = []
    private var released = 0
    public private(set) var stopped = false

    public init(stops: [String]) {
        self.stops = stops
        stopBytes = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
        holdBack = max(0, (stopBytes.map(\.count).max() ?? 0) - 1)
    }

    /// The sample's text so far (up to the stop, once one has appeared).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Adds a piece; returns the text now safe to show, and whether a stop text has appeared.
    public mutating func append(_ piece: String) -> (ready: String, stopped: Bool) {
        guard !stopped else { return ("", true) }
        let old = bytes.count
        bytes.append(contentsOf: piece.utf8)
        // No earlier append found a stop, so a match must end past `old`.
        var cut: Int?
        for stop in stopBytes {
            var start = max(0, old - stop.count + 1)
            while start + stop.count <= bytes.count && start < (cut ?? .max) {
                if bytes[start] == stop[0] && bytes[start..<(start + stop.count)].elementsEqual(stop) { cut = start; break }
                start += 1
            }
        }
        if let cut {
            bytes.removeSubrange(cut...)
            stopped = true
            return (flush(), true)
        }
        // Release all but the last `holdBack` bytes, never stopping inside a UTF-8 sequence.
        var safe = max(released, bytes.count - holdBack)
        while safe > released && safe < bytes.count && bytes[safe] & 0xC0 == 0x80 { safe -= 1 }
        let ready = String(decoding: bytes[released..<safe], as: UTF8.self)
        released = safe
        return (ready, false)
    }

    /// The text not yet returned.
    public mutating func flush() -> String {
        let rest = String(decoding: bytes[released...], as: UTF8.self)
        released = bytes.count
        return rest
    }
}
