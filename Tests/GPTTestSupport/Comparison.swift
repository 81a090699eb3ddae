// Element-wise comparison that cannot skip a NaN. `Sequence.max()` on differences compares with `<`,
// which is false for NaN, so one NaN element (or a NaN difference from an infinity) can vanish from
// the maximum and a bound on it passes. These return +infinity instead, which fails any bound.

/// max |a[i] − b[i]|, or +infinity when the counts differ or any element of either side is NaN or infinite.
public func maxAbsDifference<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
    guard a.count == b.count else { return .infinity }
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let dx = Double(x), dy = Double(y)
        guard dx.isFinite, dy.isFinite else { return .infinity }
        worst = max(worst, abs(dx - dy))
    }
    return worst
}

/// max |a[i]|, or +infinity when any element is NaN or infinite.
public func maxAbs<A: BinaryFloatingPoint>(_ a: [A]) -> Double {
    var worst = 0.0
    for x in a {
        let d = Double(x)
        guard d.isFinite else { return .infinity }
        worst = max(worst, abs(d))
    }
    return worst
}
