// bf16, f16 and q8_0 weight matrices: the rounding into each format, and the GEMM that
// reads them against a plain Double loop over the same (dequantized) weights, on odd
// sizes; plus the promise that a row's result does not depend on M or the thread count.
import XCTest
import GPTKernels

final class WeightMatrixTests: XCTestCase {
    let lowFormats: [WeightFormat] = [.bf16, .f16, .q8_0]

    func testBF16RoundsToNearestEven() {
        XCTAssertEqual(WeightFormat.bf16Bits(1), 0x3F80)
        XCTAssertEqual(WeightFormat.bf16Bits(-3), 0xC040)
        // Exactly halfway: ties go to the even neighbour.
        XCTAssertEqual(WeightFormat.bf16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(WeightFormat.bf16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        // Just above halfway rounds up; just below rounds down.
        XCTAssertEqual(WeightFormat.bf16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(WeightFormat.bf16Bits(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(WeightFormat.bf16Bits(.infinity), 0x7F80)
        XCTAssertEqual(WeightFormat.bf16Bits(.greatestFiniteMagnitude), 0x7F80, "rounds past bf16's largest finite value")
        XCTAssertTrue(WeightFormat.floatFromBF16(WeightFormat.bf16Bits(.nan)).isNaN)
        // Against Double: the nearest bf16 is within half a bf16 ulp (at most 2⁻⁸ of the value: 8 significant bits).
        var rng = TestRandom(5)
        for _ in 0..<10_000 {
            let x = rng.uniform(1000)
            let back = Double(WeightFormat.floatFromBF16(WeightFormat.bf16Bits(x)))
            XCTAssertLessThanOrEqual(abs(back - Double(x)), abs(Double(x)) * 0x1p-8 * 1.0000001, "\(x)")
        }
    }

    func testQ8BlocksKeepEachWeightWithinHalfAStep() throws {
        var rng = TestRandom(6)
        let n = 5, k = 96
        var source = rng.floats(n * k, scale: 0.3)
        for i in 0..<32 { source[2 * k + 32 + i] = 0 }  // an all-zero block: scale 0, quants 0
        let m = try WeightMatrix(format: .q8_0, converting: source, layout: .transposed, rows: n, columns: k, what: "w")
        var row = [Float](repeating: 0, count: k)
        for r in 0..<n {
            row.withUnsafeMutableBufferPointer { m.widenRow(r, into: $0.baseAddress!) }
            for b in 0..<(k / 32) {
                let d = m.storedScales[r * 3 + b]
                let block = source[(r * k + b * 32)..<(r * k + b * 32 + 32)]
                XCTAssertEqual(d, Float(Float16(d)), "the scale is an f16 value")
                XCTAssertEqual(Double(d), Double(Float(Float16((block.map(abs).max()!) / 127))), "d = max|x| / 127")
                for i in 0..<32 {
                    let q = Int8(bitPattern: m.storedValues[r * k + b * 32 + i])
                    XCTAssertLessThanOrEqual(abs(Int(q)), 127)
                    XCTAssertLessThanOrEqual(abs(row[b * 32 + i] - source[r * k + b * 32 + i]), d / 2 * 1.0001 + 1e-12)
                }
            }
        }
        XCTAssertThrowsError(try WeightMatrix(format: .q8_0, converting: [Float](repeating: 1, count: 40), layout: .transposed,
                                              rows: 1, columns: 40, what: "w")) { error in
            XCTAssertEqual("\(error)", "w: q8_0 needs rows of a multiple of 32 weights, got 40")
        }
        XCTAssertThrowsError(try WeightMatrix(format: .bf16, converting: [Float](repeating: 1, count: 48), layout: .transposed,
                                              rows: 1, columns: 48, what: "w")) { error in
            XCTAssertEqual("\(error)", "w: bf16 needs rows of a multiple of 32 weights, got 48")
        }
    }

    func testF16RefusesValuesBeyondItsRange() {
        var row = [Float](repeating: 1, count: 32)
        row[1] = 70_000
        XCTAssertThrowsError(try WeightMatrix(format: .f16, converting: row, layout: .transposed,
                                              rows: 1, columns: 32, what: "w")) { error in
            XCTAssertEqual("\(error)", "w: the value 70000.0 in row 0 does not fit f16")
        }
    }

    /// Both source layouts give the same matrix: `.normal` [K, N] is the transpose of `.transposed` [N, K].
    func testConvertingFromConv1DLayoutTransposes() throws {
        var rng = TestRandom(7)
        let n = 3, k = 64
        let nk = rng.floats(n * k)
        var kn = [Float](repeating: 0, count: n * k)
        for r in 0..<n { for p in 0..<k { kn[p * n + r] = nk[r * k + p] } }
        for format in lowFormats {
            let a = try WeightMatrix(format: format, converting: nk, layout: .transposed, rows: n, columns: k, what: "w")
            let b = try WeightMatrix(format: format, converting: kn, layout: .normal, rows: n, columns: k, what: "w")
            XCTAssertEqual(Array(a.storedValues), Array(b.storedValues), "\(format)")
            XCTAssertEqual(Array(a.storedScales), Array(b.storedScales), "\(format)")
        }
    }

    func testGEMMMatchesDoubleReferenceOnOddSizes() throws {
        var rng = TestRandom(8)
        let pool = try ThreadPool(threads: 3)
        for format in lowFormats {
            for k in [16, 33, 64, 96, 200] where format.holds(reduction: k) {
                for n in [1, 3, 4, 5, 33] {
                    let w = try WeightMatrix(format: format, converting: rng.floats(n * k), layout: .transposed,
                                             rows: n, columns: k, what: "w")
                    for m in [1, 2, 3, 4, 5, 7, 16, 17, 65, 130] {
                        let a = rng.floats(m * k)
                        let expected = WeightMatrixGEMM.multiplyReference(a.doubles, w, m: m)
                        var c = [Float](repeating: .nan, count: m * n)
                        WeightMatrixGEMM.multiply(&c, ldc: n, a, lda: k, w, m: m, accumulate: false, pool: pool)
                        assertClose(c, expected, tolerance: 2e-6 * Double(k).squareRoot(), "\(format) m=\(m) n=\(n) k=\(k)")
                        // Accumulating adds to what is there.
                        let base = rng.floats(m * n)
                        var acc = base
                        WeightMatrixGEMM.multiply(&acc, ldc: n, a, lda: k, w, m: m, accumulate: true, pool: pool)
                        assertClose(acc, zip(expected, base).map { $0 + Double($1) }, tolerance: 2e-6 * Double(k).squareRoot(),
                                    "\(format) accumulate m=\(m) n=\(n) k=\(k)")
                    }
                }
            }
        }
    }

    /// Row i's outputs are the same bits whether it is multiplied alone, among 16 rows (the batched
    /// decode), among 130 (a prefill, other tiles and row chunks), or on another thread count.
    func testRowResultsDoNotDependOnRowCountOrThreads() throws {
        var rng = TestRandom(9)
        let n = 37
        for (format, k) in lowFormats.flatMap({ f in [(f, 192), (f, 544)] }) {
            let w = try WeightMatrix(format: format, converting: rng.floats(n * k), layout: .transposed, rows: n, columns: k, what: "w")
            let a = rng.floats(130 * k)
            var reference: [Float]?
            for threads in [1, 2, 3] {
                let pool = try ThreadPool(threads: threads)
                for m in [130, 16, 5, 1] {
                    var c = [Float](repeating: 0, count: m * n)
                    WeightMatrixGEMM.multiply(&c, ldc: n, a, lda: k, w, m: m, accumulate: false, pool: pool)
                    let first = Array(c[0..<n])
                    if let reference {
                        XCTAssertEqual(first.map(\.bitPattern), reference.map(\.bitPattern), "\(format) k=\(k) m=\(m) threads=\(threads)")
                    } else {
                        reference = first
                    }
                }
            }
        }
    }

    /// More than one KC block of k (256) and a partial last panel of outputs: the decode path (M ≤ 16,
    /// weights read in place) and the prefill path (M > 16, blocks widened into GEMM's packed buffer)
    /// against the Double loop.
    func testGEMMMatchesDoubleReferenceAcrossKCBlocksAndPartialPanels() throws {
        var rng = TestRandom(11)
        let pool = try ThreadPool(threads: 2)
        let k = 544, n = 70
        for format in lowFormats {
            let w = try WeightMatrix(format: format, converting: rng.floats(n * k), layout: .transposed, rows: n, columns: k, what: "w")
            for m in [1, 4, 6, 16, 17, 40] {
                let a = rng.floats(m * k)
                let expected = WeightMatrixGEMM.multiplyReference(a.doubles, w, m: m)
                var c = [Float](repeating: .nan, count: m * n)
                WeightMatrixGEMM.multiply(&c, ldc: n, a, lda: k, w, m: m, accumulate: false, pool: pool)
                assertClose(c, expected, tolerance: 2e-6 * Double(k).squareRoot(), "\(format) m=\(m)")
            }
        }
    }

    /// Every output is summed as the fp32 GEMM sums it (the same fused multiply-add chain per KC block):
    /// the product equals, bit for bit, `GEMM.multiply` over the dequantized weights, on both paths.
    func testProductIsBitIdenticalToFP32GEMMOfDequantizedWeights() throws {
        var rng = TestRandom(12)
        let pool = try ThreadPool(threads: 2)
        let k = 544, n = 45
        for format in lowFormats {
            let w = try WeightMatrix(format: format, converting: rng.floats(n * k), layout: .transposed, rows: n, columns: k, what: "w")
            var dequantized = [Float](repeating: 0, count: n * k)
            dequantized.withUnsafeMutableBufferPointer { d in for r in 0..<n { w.widenRow(r, into: d.baseAddress! + r * k) } }
            for m in [1, 3, 9, 33] {
                let a = rng.floats(m * k)
                var ours = [Float](repeating: .nan, count: m * n), fp32 = ours
                WeightMatrixGEMM.multiply(&ours, ldc: n, a, lda: k, w, m: m, accumulate: false, pool: pool)
                GEMM.multiply(&fp32, ldc: n, a, lda: k, .normal, dequantized, ldb: k, .transposed,
                              m: m, n: n, k: k, accumulate: false, pool: pool)
                XCTAssertEqual(ours.map(\.bitPattern), fp32.map(\.bitPattern), "\(format) m=\(m)")
            }
        }
    }

    /// The widening in the kernels is exact at the edges of each format: multiplying by the identity
    /// gives back each weight as the scalar conversion makes it (f16: `Float(Float16(x))`, subnormals,
    /// signed zeros and ±65,504 included; bf16: the top half of the fp32; q8_0: q · d), on the decode
    /// path (M ≤ 16) and the prefill path (M = 32).
    func testWideningIsExactAtTheEdgesOfEachFormat() throws {
        let pool = try ThreadPool(threads: 2)
        let k = 32, n = 3
        let specials: [Float] = [0, -0.0, 1, -1, 65_504, -65_504, 6.1e-5, -6.1e-5, 5.96e-8, -5.96e-8, 1e-6, -3e-7,
                                 2.5e-5, 0.333, -0.333, 1000.5, 0x1p-14, -0x1p-14, 0x1p-24, 3e-8, 7, -7, 0.1, -0.1,
                                 123.456, -9.99, 1e-3, -1e-3, 4.2e-6, -4.2e-6, 60_000, -0.5]
        var source = [Float](repeating: 0, count: n * k)
        for r in 0..<n { for p in 0..<k { source[r * k + p] = specials[(p + 5 * r) % k] } }
        var identity = [Float](repeating: 0, count: k * k)
        for i in 0..<k { identity[i * k + i] = 1 }
        for format in lowFormats {
            let w = try WeightMatrix(format: format, converting: source, layout: .transposed, rows: n, columns: k, what: "w")
            var expected = [Float](repeating: 0, count: k * n)  // [K, N]: row i is weight i of every output
            var row = [Float](repeating: 0, count: k)
            for r in 0..<n {
                row.withUnsafeMutableBufferPointer { w.widenRow(r, into: $0.baseAddress!) }
                for p in 0..<k {
                    expected[p * n + r] = row[p]
                    switch format {
                    case .f16: XCTAssertEqual(row[p].bitPattern, Float(Float16(source[r * k + p])).bitPattern, "f16 widenRow \(source[r * k + p])")
                    case .bf16: XCTAssertEqual(row[p], WeightFormat.floatFromBF16(WeightFormat.bf16Bits(source[r * k + p])))
                    default: break
                    }
                }
            }
            for m in [16, 32] {
                var c = [Float](repeating: .nan, count: m * n)
                WeightMatrixGEMM.multiply(&c, ldc: n, identity, lda: k, w, m: m, accumulate: false, pool: pool)
                XCTAssertEqual(c, Array(expected[0..<(m * n)]), "\(format) m=\(m)")
            }
        }
    }

    /// The panel layout in memory gives back ggml's row-major file order: q8_0 bytes and scales written
    /// out and read back (`init(q8_0:)`) are the same matrix.
    func testStoredQ8OrderRoundTripsThroughPanels() throws {
        var rng = TestRandom(13)
        let n = 37, k = 96
        let w = try WeightMatrix(format: .q8_0, converting: rng.floats(n * k), layout: .transposed, rows: n, columns: k, what: "w")
        let bytes = w.storedValues, scales = w.storedScales
        XCTAssertEqual(bytes.count, n * k)
        XCTAssertEqual(scales.count, n * k / 32)
        let back = try bytes.withUnsafeBytes { raw in
            try WeightMatrix(q8_0: raw.baseAddress!, rows: n, columns: k) { r, b in scales[r * (k / 32) + b] }
        }
        XCTAssertEqual(back.storedValues, bytes)
        XCTAssertEqual(back.storedScales, scales)
        var x = [Float](repeating: 0, count: k), y = x
        for r in 0..<n {
            x.withUnsafeMutableBufferPointer { w.widenRow(r, into: $0.baseAddress!) }
            y.withUnsafeMutableBufferPointer { back.widenRow(r, into: $0.baseAddress!) }
            XCTAssertEqual(x, y, "row \(r)")
            for p in 0..<k {
                XCTAssertEqual(x[p], Float(Int8(bitPattern: bytes[r * k + p])) * scales[r * (k / 32) + p / 32], "row \(r) weight \(p)")
            }
        }
    }

    func testEmbeddingFromWeightMatrixIsWidenedRowPlusPosition() throws {
        var rng = TestRandom(10)
        let v = 11, c = 64, seq = 3
        let wpe = rng.floats(seq * c)
        let tokens: [Int32] = [4, 0, 10, 7, 7, 2]
        for format in lowFormats {
            let wte = try WeightMatrix(format: format, converting: rng.floats(v * c), layout: .transposed, rows: v, columns: c, what: "wte")
            var out = [Float](repeating: .nan, count: 2 * seq * c)
            Embedding.forward(out: &out, tokens: tokens, wte: wte, wpe: wpe, batch: 2, seq: seq, channels: c, pool: try ThreadPool(threads: 2))
            var row = [Float](repeating: 0, count: c)
            var expected: [Double] = []
            for (i, t) in tokens.enumerated() {
                row.withUnsafeMutableBufferPointer { wte.widenRow(Int(t), into: $0.baseAddress!) }
                expected += (0..<c).map { Double(row[$0]) + Double(wpe[(i % seq) * c + $0]) }
            }
            assertClose(out, expected, tolerance: 1e-6, "\(format) embedding")
        }
    }
}
