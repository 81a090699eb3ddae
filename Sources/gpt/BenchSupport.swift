// Helpers shared by the `gpt bench` commands: timing, buffers, JSON output, RSS.
import ArgumentParser
import Foundation
import GPTKernels

/// Median wall time of `repeats` runs of `body`, after one warm-up run.
func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return median(times)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// A buffer of uniform values in [-1, 1) from a fixed-seed generator.
func randomBuffer(_ count: Int, seed: UInt64 = 42) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
    var rng = SplitMix64(seed: seed)
    for i in 0..<count { p[i] = Float(rng.nextUnitInterval() * 2 - 1) }
    return p
}

/// "1,2" → [1, 2]; nil → [1, all cores] (or [1] on one core).
func parseThreadList(_ text: String?) throws -> [Int] {
    guard let text else {
        let all = ProcessInfo.processInfo.activeProcessorCount
        return all > 1 ? [1, all] : [1]
    }
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw CommandError("--threads must be a comma-separated list of positive integers, got '\(text)'")
    }
    return values.map { $0! }
}

func rounded(_ x: Double, _ digits: Int) -> Double {
    let scale = pow(10.0, Double(digits))
    return (x * scale).rounded() / scale
}

/// Prints `object` as one line of JSON (sorted keys, so output is stable). Throws for values
/// JSON cannot hold, such as a NaN loss.
func printJSONLine(_ object: Any) throws {
    guard JSONSerialization.isValidJSONObject(object) else {
        throw CommandError("cannot print the result as JSON (a value is not finite): \(object)")
    }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// Peak resident set size of this process, in MB.
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports kilobytes
}
