// The text of one sample as it streams, cut before the first stop text. Text that could
// still be the start of a stop text is held back until it is decided, so a stop text is
// never shown. Work per piece is proportional to the piece and the longest stop text,
// never to the text so far: a 100,000-token sample streams as fast as a short one.
public struct StopScanner: Sendable {
    public let stops: [[UInt8]]
    private var bytes: [UInt8] = []
    private var released = 0      // bytes already returned
    private var searchedUpTo = 0  // every stop starting before this offset has been ruled out
    public private(set) var stopped = false
    private let longest: Int

    public init(stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
        longest = self.stops.map(\.count).max() ?? 0
    }

    /// The text kept so far (cut before a stop text once one appeared).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Adds a piece of whole characters; returns the text now safe to show, and whether a stop text appeared.
    public mutating func append(_ piece: String) -> (String, Bool) {
        guard !stopped else { return ("", true) }
        bytes.append(contentsOf: piece.utf8)
        // A stop can begin no earlier than `longest - 1` bytes before the new piece.
        if let cut = firstStop(from: max(0, searchedUpTo)) {
            bytes.removeSubrange(cut...)
            stopped = true
            return (flush(), true)
        }
        searchedUpTo = max(searchedUpTo, bytes.count - max(0, longest - 1))
        // Release up to the first byte that could still start a stop, at a character boundary.
        var safe = max(released, bytes.count - max(0, longest - 1))
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

    /// The offset of the earliest stop text starting at or after `start`, if one is complete.
    private func firstStop(from start: Int) -> Int? {
        guard longest > 0 else { return nil }
        var best: Int?
        for stop in stops where bytes.count >= stop.count {
            var i = start
            while i + stop.count <= bytes.count {
                if bytes[i] == stop[0] && bytes[i..<(i + stop.count)].elementsEqual(stop) { best = min(best ?? i, i); break }
                i += 1
            }
        }
        return best
    }
}
