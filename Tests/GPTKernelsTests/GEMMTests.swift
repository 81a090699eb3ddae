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

    /// Each element is summed by one thread in one order, whichever thread and however C is split:
    /// 1, 2 and 3 threads give the same bits. The shapes take every way A reaches the kernel: packed
    /// once and shared (C split by columns), packed by each thread for its own rows (C split by rows),
    /// transposed, a normal A 4 KiB-multiple rows apart, and a large normal A read in place, with
    /// A and B inside wider matrices (leading dimensions larger than the product's).
    func testThreadCountDoesNotChangeTheBits() throws {
        var rng = TestRandom(3)
        let pools = try [1, 2, 3].map { try ThreadPool(threads: $0) }
        let shapes = [(m: 13, n: 300, k: 300), (m: 200, n: 129, k: 600), (m: 70, n: 96, k: 1024),
                      (m: 20, n: 64, k: 60000), (m: 333, n: 40, k: 65)]
        for (m, n, k) in shapes {
            for layoutA in [MatrixLayout.normal, .transposed] {
                for layoutB in [MatrixLayout.normal, .transposed] {
                    let padA = layoutA == .normal && k % 1024 == 0 ? 0 : 3
                    let lda = (layoutA == .normal ? k : m) + padA, ldb = (layoutB == .normal ? n : k) + 5
                    let a = rng.floats((layoutA == .normal ? m : k) * lda), b = rng.floats((layoutB == .normal ? k : n) * ldb)
                    let products = pools.map { pool -> [Float] in
                        var c = [Float](repeating: 0, count: m * n)
                        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                            GEMM.multiply(cp.baseAddress!, ldc: n, ap.baseAddress!, lda: lda, layoutA,
                                          bp.baseAddress!, ldb: ldb, layoutB, m: m, n: n, k: k, accumulate: false, pool: pool)
                        }}}
                        return c
                    }
                    if m * k < 2_000_000 {
                        let expected = GEMM.multiplyReference(a.doubles, lda: lda, layoutA, b.doubles, ldb: ldb, layoutB,
                                                              m: m, n: n, k: k)
                        assertClose(products[0], expected, tolerance: 1e-6 * Double(k).squareRoot() + 1e-6,
                                    "C \(m)x\(n)x\(k) \(layoutA)/\(layoutB)")
                    }
                    for (t, c) in zip([2, 3], products.dropFirst()) {
                        let differing = (0..<(m * n)).count { c[$0].bitPattern != products[0][$0].bitPattern }
                        XCTAssertEqual(differing, 0, "C \(m)x\(n)x\(k) \(layoutA)/\(layoutB): \(t) threads differ from 1 in \(differing) elements")
                    }
                }
            }
        }
    }
}
