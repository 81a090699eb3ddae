// A row of C must not depend on how many rows C has: batch-invariant serving runs one
// sequence's rows at M = 1 (decoding alone), M = 8 (decoding beside others) or M = 70
// (beside a prefill chunk), on the skinny path (M ≤ 4) or the blocked one. These tests
// compare bits, not tolerances.
import XCTest
import GPTKernels

final class GEMMBatchInvarianceTests: XCTestCase {
    /// C[m, n] (+)= A[m, k] · op(B), B [k, n] normal or [n, k] transposed, C prefilled with `bias` rows when given.
    func product(_ a: [Float], _ b: [Float], _ layout: MatrixLayout, m: Int, n: Int, k: Int, bias: [Float]?, pool: ThreadPool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        if let bias { for i in 0..<m { c.replaceSubrange((i * n)..<((i + 1) * n), with: bias) } }
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            GEMM.multiply(cp.baseAddress!, ldc: n, ap.baseAddress!, lda: k, .normal, bp.baseAddress!,
                          ldb: layout == .normal ? n : k, layout, m: m, n: n, k: k, accumulate: bias != nil, pool: pool)
        }}}
        return c
    }

    /// GPT-2 124M's inference products: c_attn, attn c_proj, c_fc, mlp c_proj (weights [K, N], with a bias)
    /// and the LM head (wte [V, C] read transposed, no bias). Each row at M = 1…16 equals that row at M = 70.
    func testRowsAreBitIdenticalForEveryRowCountOnGPT2Shapes() throws {
        let shapes: [(k: Int, n: Int, layout: MatrixLayout, bias: Bool)] = [
            (768, 2304, .normal, true), (768, 768, .normal, true), (768, 3072, .normal, true), (3072, 768, .normal, true),
            (768, 50257, .transposed, false),
        ]
        var rng = TestRandom(11)
        let big = 70
        for threads in [1, 2] {
            let pool = try ThreadPool(threads: threads)
            for shape in shapes {
                let (k, n) = (shape.k, shape.n)
                let a = rng.floats(big * k), b = rng.floats(k * n, scale: 0.05)
                let bias = shape.bias ? rng.floats(n) : nil
                let full = product(a, b, shape.layout, m: big, n: n, k: k, bias: bias, pool: pool)
                for m in 1...16 {
                    let part = product(Array(a[0..<(m * k)]), b, shape.layout, m: m, n: n, k: k, bias: bias, pool: pool)
                    let differing = (0..<(m * n)).count { part[$0].bitPattern != full[$0].bitPattern }
                    XCTAssertEqual(differing, 0, "K \(k), N \(n), M \(m), \(threads) threads: \(differing) elements differ from M = \(big)")
                }
            }
        }
    }

    /// Bits are what the test above compares, and they do see a change of summation order: adding
    /// the two halves of K separately (what the decode path did before, one half per thread) changes
    /// some elements of a GPT-2 row. So the test above can fail.
    func testAnotherSummationOrderChangesTheBits() throws {
        var rng = TestRandom(12)
        let k = 3072, n = 768
        let a = rng.floats(k), b = rng.floats(k * n, scale: 0.05)
        let c = product(a, b, .normal, m: 1, n: n, k: k, bias: nil, pool: try ThreadPool(threads: 2))
        var changed = 0
        for j in 0..<n {
            var low: Float = 0, high: Float = 0
            for p in 0..<(k / 2) { low.addProduct(a[p], b[p * n + j]) }
            for p in (k / 2)..<k { high.addProduct(a[p], b[p * n + j]) }
            if (low + high).bitPattern != c[j].bitPattern { changed += 1 }
        }
        XCTAssertGreaterThan(changed, n / 10, "a split-K sum should differ in the last bits of many elements")
    }
}
