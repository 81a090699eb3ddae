// C[M, N] (+)= A[M, K] · Wᵀ with W a `WeightMatrix` (bf16, f16 or q8_0, [N, K]): the linear
// layers and LM head of inference at 16 or 8 bits per weight.
//
// The weights are held as the fp32 GEMM's packed B panels (32 outputs wide, see `WeightMatrix`), and
// every output is summed exactly as `GEMM` sums it: a fused multiply-add chain from zero over each
// KC-deep block of k, in order, the blocks added to C in order. The weight in each product is the
// stored weight widened to fp32 (exact for bf16 and f16; for q8_0 the product q·d, rounded once),
// formed by the same inline function on every path. So a row's result does not depend on how many
// rows are in the product, which path took it, nor on the thread count (the server's batch
// invariance), and equals what `GEMM.multiply` gives on the dequantized matrix.
//
// Decoding (M ≤ 16, `skinny`): each 32-output panel is read once per KC block, straight from
// memory, widened in registers, and multiplied into up to four rows at a time (the panel block,
// 8–16 KB, stays in L1 for the next four). This is the memory-bound floor of a token.
// Prefill (M > 16): GEMM's blocking and GEMM's split, with the packing of B replaced by widening.
// Split by rows (C taller than wide), all of W is widened once into GEMM's shared packed buffer and
// `GEMM.block` itself runs on it; split by columns (`blocked`), each NC × KC block of a thread's
// panels is widened into its packed-B buffer and reused by every 8-row panel of A, through
// `GEMM.microKernel`.
// Widening uses shifts and masks on 32-bit lanes: bf16 is the top half of an fp32; f16's exponent and
// mantissa are moved into place by an arithmetic shift and multiplied by 2¹¹²; a q8_0 byte (stored + 128) is ORed into the
// mantissa of 2²³ and 2²³ + 128 subtracted. (Swift's generic SIMD conversions compile to calls.)
// Threads split N (panels claimed two at a time) when decoding; as GEMM splits them for prefill.

public enum WeightMatrixGEMM {
    static let nr = GEMM.nr, kc = GEMM.kc, nc = GEMM.nc, mr = GEMM.mr
    /// Up to this many rows (the decode of one to many sequences), W is read in place.
    static let skinnyRows = 16

    /// c: [M, N] (row stride ldc), a: [M, K] (row stride lda), w: [N, K]; c = a · wᵀ, or c += … when `accumulate`.
    public static func multiply(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int,
                                _ w: WeightMatrix, m: Int, accumulate: Bool, pool: ThreadPool) {
        let n = w.rows, k = w.columns
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        switch w.format {
        case .bf16:
            run(BF16Panels(base: UnsafeRawPointer(w.values), k: k), c, ldc, a, lda, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .f16:
            run(F16Panels(base: UnsafeRawPointer(w.values), k: k), c, ldc, a, lda, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .q8_0:
            run(Q8Panels(base: UnsafeRawPointer(w.values), scales: UnsafePointer(w.scales!), k: k), c, ldc, a, lda,
                m: m, n: n, k: k, accumulate: accumulate, pool: pool)
        case .fp32: fatalError("unreachable: a WeightMatrix is never fp32")
        }
    }

    @inline(__always)
    static func run<W: WeightPanels>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                                     m: Int, n: Int, k: Int, accumulate: Bool, pool: ThreadPool) {
        let ws = pool.gemmWorkspace
        ws.reserve(pool.threadCount)
        if m <= skinnyRows {
            // Small problems are not worth waking the other workers.
            let granule = m * n * k < 1 << 16 ? n : 2 * nr
            pool.parallelForClaiming(n, granule: granule) { cols, worker in
                skinny(w, c, ldc, a, lda, m: m, cols: cols, k: k, accumulate: accumulate, ws.workers[worker])
            }
            return
        }
        // GEMM's choice of split: C along its longer side. Split by rows, every thread needs all of W:
        // it is widened once, by all threads together, into GEMM's shared packed-B buffer, and each
        // thread runs `GEMM.block` itself over its rows.
        let nPanels = (n + nr - 1) / nr, mPanels = (m + mr - 1) / mr
        let byColumns = n >= m ? nPanels >= pool.threadCount : mPanels < pool.threadCount
        if !byColumns, let shared = widenShared(w, panels: nPanels, k: k, pool: pool, ws) {
            let operandA = GEMM.Operand(base: a, ld: lda, layout: .normal)
            let unused = GEMM.Operand(base: UnsafePointer(shared), ld: nr, layout: .normal)  // B is given packed
            pool.parallelFor(m, granule: mr) { rows, worker in
                GEMM.block(c, ldc, operandA, unused, rows: rows, cols: 0..<n, k: k, accumulate: accumulate, ws.workers[worker],
                           packedB: shared)
            }
        } else {
            pool.parallelFor(n, granule: nr) { cols, worker in
                blocked(w, c, ldc, a, lda, m: m, cols: cols, k: k, accumulate: accumulate, ws.workers[worker])
            }
        }
    }

    /// All of W widened as `GEMM.sharedPackedB` lays out a packed B (KC blocks of panels; block `pc` at
    /// `pc · panels · 32`, panel q at `q · kcb · 32`), threads splitting the panels; nil past GEMM's limit.
    static func widenShared<W: WeightPanels>(_ w: W, panels: Int, k: Int, pool: ThreadPool,
                                             _ ws: GEMMWorkspace) -> UnsafeMutablePointer<Float>? {
        let count = panels * nr * k
        guard count <= GEMM.sharedPackLimit else { return nil }
        let buffer = ws.shared(count)
        pool.parallelFor(panels) { range in
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                for q in range { widenPanel(w, q, pc, kcb, into: buffer + pc * panels * nr + q * kcb * nr) }
                pc += kc
            }
        }
        return buffer
    }

    /// dst[kcb][32] = panel q's weights at steps pc..<pc+kcb, widened (the layout `GEMM.packB` makes).
    @inline(__always)
    static func widenPanel<W: WeightPanels>(_ w: W, _ q: Int, _ pc: Int, _ kcb: Int, into dst: UnsafeMutablePointer<Float>) {
        var dst = dst
        var p = 0
        while p < kcb {
            let (b0, b1, b2, b3) = w.widenPair(q, pc + p)
            store16(b0, dst); store16(b1, dst + 16); store16(b2, dst + 32); store16(b3, dst + 48)
            dst += 2 * nr
            p += 2
        }
    }

    /// C[0..<m, cols] (+)= A · W[cols]ᵀ, cols panel-aligned; W read in place.
    @inline(__always)
    static func skinny<W: WeightPanels>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                                        m: Int, cols: Range<Int>, k: Int, accumulate: Bool, _ ws: GEMM.Workspace) {
        var j = cols.lowerBound
        while j < cols.upperBound {
            let width = min(nr, cols.upperBound - j)
            let direct = width == nr
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                let add = accumulate || pc > 0
                var i = 0
                while i < m {
                    let rows = min(4, m - i)
                    let ap = a + i * lda + pc
                    let cp = direct ? c + i * ldc + j : ws.tile, ldcp = direct ? ldc : nr
                    switch rows {
                    case 1: skinnyKernel(w, 1, j / nr, pc, kcb, ap, lda, cp, ldcp, add: add && direct)
                    case 2: skinnyKernel(w, 2, j / nr, pc, kcb, ap, lda, cp, ldcp, add: add && direct)
                    case 3: skinnyKernel(w, 3, j / nr, pc, kcb, ap, lda, cp, ldcp, add: add && direct)
                    default: skinnyKernel(w, 4, j / nr, pc, kcb, ap, lda, cp, ldcp, add: add && direct)
                    }
                    if !direct {
                        for r in 0..<rows {
                            for jj in 0..<width {
                                let t = ws.tile[r * nr + jj]
                                let o = c + (i + r) * ldc + j + jj
                                o.pointee = add ? o.pointee + t : t
                            }
                        }
                    }
                    i += rows
                }
                pc += kc
            }
            j += nr
        }
    }

    /// C[rows ≤ 4, 32] (+)= A[rows, pc..<pc+kcb] · W[panel q, pc..<pc+kcb]ᵀ, a at column pc of row 0.
    /// Per element the same fused multiply-add chain as `GEMM.microKernel` over the widened panel.
    @inline(__always)
    static func skinnyKernel<W: WeightPanels>(_ w: W, _ rows: Int, _ q: Int, _ pc: Int, _ kcb: Int,
                                              _ a: UnsafePointer<Float>, _ lda: Int,
                                              _ c: UnsafeMutablePointer<Float>, _ ldc: Int, add: Bool) {
        var c00 = Vec16(), c01 = Vec16(), c10 = Vec16(), c11 = Vec16()
        var c20 = Vec16(), c21 = Vec16(), c30 = Vec16(), c31 = Vec16()
        var p = 0
        while p < kcb {
            // Steps p and p + 1 (kcb is even: K is a multiple of 32).
            let (b0, b1, b2, b3) = w.widenPair(q, pc + p)
            var av = Vec16(repeating: a[p]); c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = Vec16(repeating: a[p + 1]); c00.addProduct(av, b2); c01.addProduct(av, b3)
            if rows > 1 {
                av = Vec16(repeating: a[lda + p]); c10.addProduct(av, b0); c11.addProduct(av, b1)
                av = Vec16(repeating: a[lda + p + 1]); c10.addProduct(av, b2); c11.addProduct(av, b3)
            }
            if rows > 2 {
                av = Vec16(repeating: a[2 * lda + p]); c20.addProduct(av, b0); c21.addProduct(av, b1)
                av = Vec16(repeating: a[2 * lda + p + 1]); c20.addProduct(av, b2); c21.addProduct(av, b3)
            }
            if rows > 3 {
                av = Vec16(repeating: a[3 * lda + p]); c30.addProduct(av, b0); c31.addProduct(av, b1)
                av = Vec16(repeating: a[3 * lda + p + 1]); c30.addProduct(av, b2); c31.addProduct(av, b3)
            }
            p += 2
        }
        @inline(__always) func put(_ row: Int, _ v0: Vec16, _ v1: Vec16) { GEMM.storeRow(c + row * ldc, v0, v1, add: add) }
        put(0, c00, c01)
        if rows > 1 { put(1, c10, c11) }
        if rows > 2 { put(2, c20, c21) }
        if rows > 3 { put(3, c30, c31) }
    }

    /// One thread's slice of C for a prefill: `GEMM.block` with each NC × KC block of W widened into the
    /// packed-B buffer (once per block, for all rows) instead of packed.
    @inline(__always)
    static func blocked<W: WeightPanels>(_ w: W, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                                         m: Int, cols: Range<Int>, k: Int, accumulate: Bool, _ ws: GEMM.Workspace) {
        let operandA = GEMM.Operand(base: a, ld: lda, layout: .normal)
        var jc = cols.lowerBound
        while jc < cols.upperBound {
            let ncb = min(nc, cols.upperBound - jc)
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                // Widen panels jc/32 … into [panel][kcb][32] fp32, the layout `GEMM.packB` makes.
                var jr = 0
                while jr < ncb {
                    widenPanel(w, (jc + jr) / nr, pc, kcb, into: ws.packedB + jr * kcb)
                    jr += nr
                }
                let add = accumulate || pc > 0
                var ir = 0
                while ir < m {
                    let mrb = min(mr, m - ir)
                    var ap: UnsafePointer<Float>, aK: Int, aI: Int
                    if mrb == mr {
                        (ap, aK, aI) = (a + ir * lda + pc, 1, lda)
                    } else {
                        GEMM.packA(ws.packedA, operandA, rows: ir, count: mrb, cols: pc, k: kcb)
                        (ap, aK, aI) = (UnsafePointer(ws.packedA), mr, 1)
                    }
                    GEMM.panelTimesBlock(kcb, ap, aK, aI, ws.packedB, c + ir * ldc + jc, ldc, rows: mrb, cols: ncb, add: add,
                                         tile: ws.tile)
                    ir += mr
                }
                pc += kc
            }
            jc += nc
        }
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

/// A weight matrix's panels, widened to fp32 two reduction steps at a time.
protocol WeightPanels {
    /// Panel q's weights at steps p and p + 1 (p even): (outputs 0…15 at p, 16…31 at p, 0…15 at p + 1, 16…31 at p + 1).
    func widenPair(_ q: Int, _ p: Int) -> (Vec16, Vec16, Vec16, Vec16)
}

/// The 64 bytes of panel q's step p (16-bit formats) or steps p, p + 1 (q8_0) as sixteen 32-bit lanes.
@inline(__always)
func panelLanes(_ base: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt32> {
    base.load(fromByteOffset: offset, as: SIMD16<UInt32>.self)
}

struct BF16Panels: WeightPanels {
    let base: UnsafeRawPointer, k: Int
    /// bf16 is the top half of an fp32: the low halves shifted up, the high halves masked.
    @inline(__always) func widen(_ v: SIMD16<UInt32>) -> (Vec16, Vec16) {
        (unsafeBitCast(v &<< 16, to: Vec16.self), unsafeBitCast(v & 0xFFFF_0000, to: Vec16.self))
    }
    @inline(__always) func widenPair(_ q: Int, _ p: Int) -> (Vec16, Vec16, Vec16, Vec16) {
        let offset = (q * k + p) * 64
        let (b0, b1) = widen(panelLanes(base, offset)), (b2, b3) = widen(panelLanes(base, offset + 64))
        return (b0, b1, b2, b3)
    }
}

struct F16Panels: WeightPanels {
    let base: UnsafeRawPointer, k: Int
    /// binary16 → binary32 exactly for every finite value (stored weights are finite). With the half in
    /// the top 16 bits of a lane (where bf16 sits), an arithmetic shift right by 3 moves its exponent and
    /// mantissa into fp32's places and copies the sign into bits 28–31; the mask keeps only bit 31 of
    /// those. Read as fp32 that is the value 2¹¹² times too small (f16 subnormals become fp32
    /// subnormals), and the multiply by 2¹¹², a power of two, makes it exact: four operations a vector.
    @inline(__always) func widen(_ top: SIMD16<UInt32>) -> Vec16 {
        let shifted = unsafeBitCast(top, to: SIMD16<Int32>.self) &>> 3
        return unsafeBitCast(shifted & Int32(bitPattern: 0x8FFF_E000), to: Vec16.self) * 0x1p112
    }
    @inline(__always) func widenPair(_ q: Int, _ p: Int) -> (Vec16, Vec16, Vec16, Vec16) {
        let offset = (q * k + p) * 64
        let v = panelLanes(base, offset), u = panelLanes(base, offset + 64)
        return (widen(v &<< 16), widen(v & 0xFFFF_0000), widen(u &<< 16), widen(u & 0xFFFF_0000))
    }
}

struct Q8Panels: WeightPanels {
    let base: UnsafeRawPointer, scales: UnsafePointer<Float>, k: Int
    /// Biased bytes (q + 128, in the low 8 bits of each lane) → q exactly, by the mantissa of 2²³.
    @inline(__always) func widen(_ u: SIMD16<UInt32>, _ d: Vec16) -> Vec16 {
        (unsafeBitCast(u | 0x4B00_0000, to: Vec16.self) - 8_388_736) * d
    }
    @inline(__always) func widenPair(_ q: Int, _ p: Int) -> (Vec16, Vec16, Vec16, Vec16) {
        let v = panelLanes(base, (q * k + p) * 32)
        let s = scales + (q * (k / WeightFormat.q8BlockSize) + p / WeightFormat.q8BlockSize) * 32
        let d0 = load16(s), d1 = load16(s + 16)
        return (widen(v & 0xFF, d0), widen((v &>> 8) & 0xFF, d1), widen((v &>> 16) & 0xFF, d0), widen(v &>> 24, d1))
    }
}
