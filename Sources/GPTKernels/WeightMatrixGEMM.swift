// C[M, N] (+)= A[M, K] · Wᵀ with W a `WeightMatrix` (bf16, f16 or q8_0, [N, K]): the linear
// layers and LM head of inference at 16 or 8 bits per weight.
//
// Every output is one dot product, computed the same way whatever M, the tile it falls in
// or the thread that owns it: sixteen fp32 lanes accumulate a[p]·w[p] by FMA for p in
// order, 16 at a time (each lane the p ≡ lane mod 16), the lanes are added in a fixed
// tree, then the K mod 16 tail is added in order. So a row's result does not depend on
// which other rows are in the batch (the server's batch invariance) nor on the thread count.
//
// Weights are widened to fp32 in registers as they are loaded. The 16-bit formats are stored
// with each group of 32 interleaved (see `WeightMatrix.slot`), so a 64-byte load widens to
// two vectors by shifts and masks alone: bf16 by a 16-bit shift, f16 by moving its exponent
// and mantissa into place and one multiply by 2¹¹². (Swift's generic SIMD conversions,
// `SIMD16<UInt32>(truncatingIfNeeded:)` and `SIMD16<Float>(SIMD16<Float16>)`, compile to calls
// that spill every accumulator: they made bf16 decode barely faster than fp32.) q8_0 is
// widened by sign-extension, conversion and one multiply by the block's scale, still through
// those generic conversions (not yet rewritten; see BENCHMARKS.md). The integer dot product,
// which would also quantize the activations to 8 bits, is not implemented. Widening is exact
// for bf16 and f16, and for q8_0 the product q·d is rounded once, the same in every tile.
//
// Decoding (M ≤ 4) reads each weight once, straight from memory: that is the memory-bound
// floor. For more rows, a tile of 4 rows × 4 outputs keeps 16 accumulators in registers;
// A is taken in chunks of 64 rows, so a chunk stays in L2 while W's rows stream through.
// Threads split N (the outputs), in groups of 4.

public enum WeightMatrixGEMM {
    static let tileRows = 4, tileColumns = 4, rowChunk = 64

    /// c: [M, N] (row stride ldc), a: [M, K] (row stride lda), w: [N, K]; c = a · wᵀ, or c += … when `accumulate`.
    public static func multiply(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int,
                                _ w: WeightMatrix, m: Int, accumulate: Bool, pool: ThreadPool) {
        let n = w.rows, k = w.columns
        guard m > 0, n > 0 else { return }
        switch w.format {
        case .bf16:
            run(BF16Row(base: UnsafePointer(w.values.assumingMemoryBound(to: UInt16.self)), k: k),
                c, ldc, a, lda, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .f16:
            run(F16Row(base: UnsafePointer(w.values.assumingMemoryBound(to: Float16.self)), k: k),
                c, ldc, a, lda, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .q8_0:
            run(Q8Row(base: UnsafePointer(w.values.assumingMemoryBound(to: Int8.self)), scales: UnsafePointer(w.scales!),
                      k: k, blocks: k / WeightFormat.q8BlockSize),
                c, ldc, a, lda, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .fp32: fatalError("unreachable: a WeightMatrix is never fp32")
        }
    }

    @inline(__always)
    static func run<W: WeightRows>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                                   m: Int, n: Int, k: Int, accumulate: Bool, pool: ThreadPool) {
        pool.parallelFor(n, granule: tileColumns) { cols in
            var i0 = 0
            while i0 < m {
                let rowsHere = min(rowChunk, m - i0)
                var j = cols.lowerBound
                while j + tileColumns <= cols.upperBound {
                    var i = i0
                    while i + tileRows <= i0 + rowsHere {
                        tile4x4(w, c + i * ldc + j, ldc, a + i * lda, lda, j, k, accumulate)
                        i += tileRows
                    }
                    while i < i0 + rowsHere {
                        tile1x4(w, c + i * ldc + j, a + i * lda, j, k, accumulate)
                        i += 1
                    }
                    j += tileColumns
                }
                while j < cols.upperBound {
                    for i in i0..<(i0 + rowsHere) {
                        let d = dot(w, a + i * lda, j, k)
                        c[i * ldc + j] = accumulate ? c[i * ldc + j] + d : d
                    }
                    j += 1
                }
                i0 += rowsHere
            }
        }
    }

    /// Sixteen lanes added in a fixed tree (the same in every kernel below).
    @inline(__always)
    static func lanesSum(_ v: Vec16) -> Float {
        let h8 = v.lowHalf + v.highHalf
        let h4 = h8.lowHalf + h8.highHalf
        let h2 = h4.lowHalf + h4.highHalf
        return h2[0] + h2[1]
    }

    /// The lanes' sum plus the K mod 16 tail of row `a` · weight row j, in order.
    @inline(__always)
    static func finish<W: WeightRows>(_ acc: Vec16, _ w: W, _ a: UnsafePointer<Float>, _ j: Int, _ k: Int) -> Float {
        var s = lanesSum(acc)
        var p = k & ~15
        while p < k { s = s.addingProduct(a[p], w.scalar(j, p)); p += 1 }
        return s
    }

    /// One output: a[K] · W[j, :].
    @inline(__always)
    static func dot<W: WeightRows>(_ w: W, _ a: UnsafePointer<Float>, _ j: Int, _ k: Int) -> Float {
        var acc = Vec16()
        var p = 0
        while p + 16 <= k { acc.addProduct(load16(a + p), w.load16(j, p)); p += 16 }
        return finish(acc, w, a, j, k)
    }

    /// c[0, 0..<4] (+)= a[K] · W[j..<j+4, :]ᵀ
    @inline(__always)
    static func tile1x4<W: WeightRows>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                                        _ j: Int, _ k: Int, _ accumulate: Bool) {
        var s0 = Vec16(), s1 = Vec16(), s2 = Vec16(), s3 = Vec16()
        var p = 0
        while p + 16 <= k {
            let x = load16(a + p)
            s0.addProduct(x, w.load16(j, p)); s1.addProduct(x, w.load16(j + 1, p))
            s2.addProduct(x, w.load16(j + 2, p)); s3.addProduct(x, w.load16(j + 3, p))
            p += 16
        }
        let r = (finish(s0, w, a, j, k), finish(s1, w, a, j + 1, k), finish(s2, w, a, j + 2, k), finish(s3, w, a, j + 3, k))
        if accumulate {
            c[0] += r.0; c[1] += r.1; c[2] += r.2; c[3] += r.3
        } else {
            c[0] = r.0; c[1] = r.1; c[2] = r.2; c[3] = r.3
        }
    }

    /// c[0..<4, 0..<4] (+)= a[0..<4, K] · W[j..<j+4, :]ᵀ: four weight vectors, four input vectors, sixteen FMAs per step.
    @inline(__always)
    static func tile4x4<W: WeightRows>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>,
                                        _ lda: Int, _ j: Int, _ k: Int, _ accumulate: Bool) {
        var s00 = Vec16(), s01 = Vec16(), s02 = Vec16(), s03 = Vec16()
        var s10 = Vec16(), s11 = Vec16(), s12 = Vec16(), s13 = Vec16()
        var s20 = Vec16(), s21 = Vec16(), s22 = Vec16(), s23 = Vec16()
        var s30 = Vec16(), s31 = Vec16(), s32 = Vec16(), s33 = Vec16()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        var p = 0
        while p + 16 <= k {
            let w0 = w.load16(j, p), w1 = w.load16(j + 1, p), w2 = w.load16(j + 2, p), w3 = w.load16(j + 3, p)
            var x = load16(a0 + p)
            s00.addProduct(x, w0); s01.addProduct(x, w1); s02.addProduct(x, w2); s03.addProduct(x, w3)
            x = load16(a1 + p)
            s10.addProduct(x, w0); s11.addProduct(x, w1); s12.addProduct(x, w2); s13.addProduct(x, w3)
            x = load16(a2 + p)
            s20.addProduct(x, w0); s21.addProduct(x, w1); s22.addProduct(x, w2); s23.addProduct(x, w3)
            x = load16(a3 + p)
            s30.addProduct(x, w0); s31.addProduct(x, w1); s32.addProduct(x, w2); s33.addProduct(x, w3)
            p += 16
        }
        @inline(__always) func put(_ row: Int, _ ar: UnsafePointer<Float>, _ t0: Vec16, _ t1: Vec16, _ t2: Vec16, _ t3: Vec16) {
            let out = c + row * ldc
            let r = (finish(t0, w, ar, j, k), finish(t1, w, ar, j + 1, k), finish(t2, w, ar, j + 2, k), finish(t3, w, ar, j + 3, k))
            if accumulate {
                out[0] += r.0; out[1] += r.1; out[2] += r.2; out[3] += r.3
            } else {
                out[0] = r.0; out[1] = r.1; out[2] = r.2; out[3] = r.3
            }
        }
        put(0, a0, s00, s01, s02, s03); put(1, a1, s10, s11, s12, s13)
        put(2, a2, s20, s21, s22, s23); put(3, a3, s30, s31, s32, s33)
    }

    /// The specification: a plain triple loop in Double over the matrix's dequantized weights
    /// (`widenRow`). a: [M, K], returns [M, N].
    public static func multiplyReference(_ a: [Double], _ w: WeightMatrix, m: Int) -> [Double] {
        let n = w.rows, k = w.columns
        var c = [Double](repeating: 0, count: m * n)
        var row = [Float](repeating: 0, count: k)
        for j in 0..<n {
            row.withUnsafeMutableBufferPointer { w.widenRow(j, into: $0.baseAddress!) }
            for i in 0..<m {
                var s = 0.0
                for p in 0..<k { s += a[i * k + p] * Double(row[p]) }
                c[i * n + j] = s
            }
        }
        return c
    }
}

/// Rows of a weight matrix, read 16 weights at a time as fp32.
protocol WeightRows {
    /// W[j, p..<p+16] widened (p + 16 ≤ K; for q8_0, p a multiple of 16, so inside one block).
    func load16(_ j: Int, _ p: Int) -> Vec16
    /// W[j, p] widened.
    func scalar(_ j: Int, _ p: Int) -> Float
}

/// The 32-bit lanes of a 16-bit row's 32-weight group (`WeightMatrix.slot` order): lane i holds weight
/// p + i in its low half and p + 16 + i in its high half. (Swift's generic SIMD conversions are not
/// inlined, so widening is done with shifts and masks on these lanes.)
@inline(__always)
func groupLanes(_ row: UnsafeRawPointer, _ p: Int) -> SIMD16<UInt32> {
    (row + 2 * (p & ~31)).loadUnaligned(as: SIMD16<UInt32>.self)
}

struct BF16Row: WeightRows {
    let base: UnsafePointer<UInt16>, k: Int
    /// bf16 is the top half of an fp32: the low halves shifted up, or the high halves masked.
    @inline(__always) func load16(_ j: Int, _ p: Int) -> Vec16 {
        let v = groupLanes(base + j * k, p)
        return unsafeBitCast(p & 16 == 0 ? v &<< 16 : v & 0xFFFF_0000, to: Vec16.self)
    }
    @inline(__always) func scalar(_ j: Int, _ p: Int) -> Float { WeightFormat.floatFromBF16(base[j * k + WeightMatrix.slot(p)]) }
}

struct F16Row: WeightRows {
    let base: UnsafePointer<Float16>, k: Int
    /// binary16 → binary32 exactly for every finite value (stored weights are finite): exponent and
    /// mantissa shifted into place read as fp32 2¹¹² times too small, subnormals included; then the sign.
    @inline(__always) func load16(_ j: Int, _ p: Int) -> Vec16 {
        let v = groupLanes(base + j * k, p)
        let h = p & 16 == 0 ? v & 0xFFFF : v &>> 16
        let magnitude = unsafeBitCast((h & 0x7FFF) &<< 13, to: Vec16.self) * 0x1p112
        return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD16<UInt32>.self) | ((h & 0x8000) &<< 16), to: Vec16.self)
    }
    @inline(__always) func scalar(_ j: Int, _ p: Int) -> Float { Float(base[j * k + WeightMatrix.slot(p)]) }
}

struct Q8Row: WeightRows {
    let base: UnsafePointer<Int8>, scales: UnsafePointer<Float>, k: Int, blocks: Int
    @inline(__always) func load16(_ j: Int, _ p: Int) -> Vec16 {
        let q = UnsafeRawPointer(base + j * k + p).loadUnaligned(as: SIMD16<Int8>.self)
        return Vec16(SIMD16<Int32>(truncatingIfNeeded: q)) * scales[j * blocks + p / WeightFormat.q8BlockSize]
    }
    @inline(__always) func scalar(_ j: Int, _ p: Int) -> Float {
        Float(base[j * k + p]) * scales[j * blocks + p / WeightFormat.q8BlockSize]
    }
}
