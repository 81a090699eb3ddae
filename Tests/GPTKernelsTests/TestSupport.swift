// Shared helpers for the kernel tests: seeded data, Float <-> Double, and a
// combined absolute/relative comparison that names the worst element.
import XCTest
import GPTKernels

struct TestRandom {
    var generator: SplitMix64
    init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [-scale, scale).
    mutating func uniform(_ scale: Float = 1) -> Float {
        Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) * scale
    }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(scale) }
    }
    mutating func int(below n: Int) -> Int { Int(next() % UInt64(n)) }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}

/// Asserts max |actual − expected| ≤ tolerance · max(1, max |expected|), reporting the worst element.
/// A NaN on either side fails, and so does an infinity unless the expected value is the same infinity.
func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    assertCloseDouble(actual.doubles, expected, tolerance: tolerance, what, file: file, line: line)
}

/// Central finite difference of a scalar function of a vector, in Double.
func finiteDifference(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var grad = [Double](repeating: 0, count: x.count)
    var probe = x
    for i in x.indices {
        probe[i] = x[i] + h; let up = f(probe)
        probe[i] = x[i] - h; let down = f(probe)
        probe[i] = x[i]
        grad[i] = (up - down) / (2 * h)
    }
    return grad
}

func assertCloseDouble(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): length", file: file, line: line)
    var worst = 0.0, worstIndex = 0, scale = 1.0
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        guard a.isFinite && e.isFinite || a == e else {  // equal infinities agree; NaN never equals anything
            XCTFail("\(what): element \(i) is \(a), want \(e)", file: file, line: line)
            return
        }
        guard e.isFinite else { continue }
        scale = Swift.max(scale, abs(e))
        let d = abs(a - e)
        if d > worst { worst = d; worstIndex = i }
    }
    XCTAssert(worst <= tolerance * scale,
              "\(what): max |diff| \(worst) at \(worstIndex) (got \(actual[worstIndex]), want \(expected[worstIndex])) > \(tolerance) · \(scale)",
              file: file, line: line)
}
