// Max-heap of (count, pair) for `BPETrainer`: the most frequent pair first; on equal
// counts the smaller pair key, i.e. the smaller left id, then the smaller right id.
import Foundation

struct PairQueue {
    private var entries: [(count: Int, pair: UInt64)] = []

    @inline(__always)
    private func isBetter(_ x: (count: Int, pair: UInt64), than y: (count: Int, pair: UInt64)) -> Bool {
        x.count > y.count || (x.count == y.count && x.pair < y.pair)
    }

    mutating func push(count: Int, pair: UInt64) {
        entries.append((count, pair))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard isBetter(entries[child], than: entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popBest() -> (Int, UInt64)? {
        guard let last = entries.popLast() else { return nil }
        guard !entries.isEmpty else { return last }
        let best = entries[0]
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var chosen = parent
            if left < entries.count, isBetter(entries[left], than: entries[chosen]) { chosen = left }
            if right < entries.count, isBetter(entries[right], than: entries[chosen]) { chosen = right }
            if chosen == parent { break }
            entries.swapAt(parent, chosen)
            parent = chosen
        }
        return best
    }
}
