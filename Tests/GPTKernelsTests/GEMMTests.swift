import XCTest
import GPTKernels

final class GEMMTests: XCTestCase {
    /// Every layout pair and awkward sizes (edge tiles in every dimension), 1 and 2 threads.
    func testPackedGEMMMatchesTripleLoopOnAwkwardSizes() throws {
        var rng = TestRandom(1)
        let sizes = [(1, 1, 1), (3, 17, 5), (7, 33, 65), (65, 767, 3), (13, 40, 300), (96, 70, 257), (200, 129, 600),
                     (2, 300, 513), (4, 1000, 64)]  // m ≤ 4 with a normal A takes the unpacked path
        for threads in [1, 2] {
            let pool = try ThreadPool(threads: threads)
            for (m, n, k) in sizes {
                for layoutA in [MatrixLayout.normal, .transposed] {
                    for layoutB in [MatrixLayout.normal, .transposed] {
                        let a = rng.floats(m * k), b = rng.floats(k * n)
                        let lda = layoutA == .normal ? k : m, ldb = layoutB == .normal ? n : k
                        let expected = GEMM.multiplyReference(a.doubles, lda: lda, layoutA, b.doubles, ldb: ldb, layoutB,
                                                              m: m, n: n, k: k)
                        var c = rng.floats(m * n)
                        let c0 = c
                        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                            GEMM.multiply(cp.baseAddress!, ldc: n, ap.baseAddress!, lda: lda, layoutA,
                                          bp.baseAddress!, ldb: ldb, layoutB, m: m, n: n, k: k, accumulate: false, pool: pool)
                        }}}
                        let tol = 1e-6 * Double(k).squareRoot() + 1e-6
                        assertClose(c, expected, tolerance: tol, "C \(m)x\(n)x\(k) \(layoutA)/\(layoutB) threads \(threads)")
                        var acc = c0
                        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in acc.withUnsafeMutableBufferPointer { cp in
                            GEMM.multiply(cp.baseAddress!, ldc: n, ap.baseAddress!, lda: lda, layoutA,
                                          bp.baseAddress!, ldb: ldb, layoutB, m: m, n: n, k: k, accumulate: true, pool: pool)
                        }}}
                        assertClose(acc, zip(expected, c0).map { $0 + Double($1) }, tolerance: tol,
                                    "C += \(m)x\(n)x\(k) \(layoutA)/\(layoutB) threads \(threads)")
                    }
                }
            }
        }
    }

    func testResultsAreBitIdenticalAcrossRunsForAThreadCount() throws {
        var rng = TestRandom(2)
        let m = 67, n = 301, k = 515
        let a = rng.floats(m * k), b = rng.floats(k * n)
        let pool = try ThreadPool(threads: 2)
        func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                GEMM.multiply(cp.baseAddress!, ldc: n, ap.baseAddress!, lda: k, .normal, bp.baseAddress!, ldb: n, .normal,
                              m: m, n: n, k: k, accumulate: false, pool: pool)
            }}}
            return c
        }
        let first = product()
        for _ in 0..<5 { XCTAssertEqual(product(), first) }
    }
}
