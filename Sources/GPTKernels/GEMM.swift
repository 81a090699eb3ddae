// General matrix multiply, C[M, N] (+)= op(A)[M, K] · op(B)[K, N], row-major with
// leading dimensions, on an AVX-512 micro-kernel that keeps an 8×32 tile of C in
// sixteen registers (the BLIS scheme). B is packed into 32-wide panels so the
// kernel streams it contiguously; A is packed into 8-row panels ([k][8], each k
// step broadcasts one element per row) once per product when it is transposed,
// small, or its rows are a multiple of 4 KiB apart (`packsA`): shared by the
// threads when C is split by columns, 128 rows at a time per thread when split by
// rows. A large normal A (the LM head's dlogits) is read where it lies.
//
// Threads split C by columns (or by rows when C is tall and narrow) into static,
// panel-aligned slices; each element of C is summed by one thread in a fixed
// k-order whatever the split, so results depend neither on timing nor on the thread
// count. The path for at most 4 rows (decoding) hands its column panels to whichever
// thread is free (that changes who sums an element, never how), and sums each element in the same order
// as the blocked path, so a row's result does not depend on how many rows C has
// (batch-invariant serving relies on it; GEMMTests checks M = 1…16 and a large M).
// The packing buffers belong to the thread pool that runs the multiply (a
// `GEMMWorkspace` per `ThreadPool`, one buffer set per worker): a pool runs one
// region at a time, so models on different pools multiply concurrently without
// sharing memory.
import Foundation

/// How a GEMM operand is read: `.normal` reads `x[i * ld + j]`, `.transposed` reads `x[j * ld + i]`.
public enum MatrixLayout: Sendable { case normal, transposed }

public enum GEMM {
    static let mr = 8, nr = 32
    static let kc = 256, nc = 512

    /// One worker's buffers, allocated once for the largest block.
    final class Workspace {
        let packedA: UnsafeMutablePointer<Float>  // one panel of A: [kc][mr]
        let packedB: UnsafeMutablePointer<Float>  // [nc / nr panels][kc][nr]
        let tile: UnsafeMutablePointer<Float>     // an edge tile of C: [mr][nr]
        init() {
            packedA = Self.allocate(GEMM.mr * GEMM.kc)
            packedB = Self.allocate(GEMM.nc * GEMM.kc)
            tile = Self.allocate(GEMM.mr * GEMM.nr)
        }
        /// Room for MC rows of op(A), all k columns, packed (`packAPanels`); grown on first need.
        private var aBlockBuffer: UnsafeMutablePointer<Float>?
        private var aBlockCapacity = 0
        func aBlock(_ count: Int) -> UnsafeMutablePointer<Float> {
            if let aBlockBuffer, aBlockCapacity >= count { return aBlockBuffer }
            aBlockBuffer?.deallocate()
            let fresh = Self.allocate(count)
            (aBlockBuffer, aBlockCapacity) = (fresh, count)
            return fresh
        }
        deinit { packedA.deallocate(); packedB.deallocate(); tile.deallocate(); aBlockBuffer?.deallocate() }
        static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
        }
    }

    /// C[M, N] = op(A)[M, K] · op(B)[K, N], or C += … when `accumulate`.
    public static func multiply(
        _ c: UnsafeMutablePointer<Float>, ldc: Int,
        _ a: UnsafePointer<Float>, lda: Int, _ layoutA: MatrixLayout,
        _ b: UnsafePointer<Float>, ldb: Int, _ layoutB: MatrixLayout,
        m: Int, n: Int, k: Int, accumulate: Bool, pool: ThreadPool
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if m <= skinnyRows && layoutA == .normal {
            skinny(c, ldc, a, lda, b, ldb, layoutB, m: m, n: n, k: k, accumulate: accumulate, pool: pool)
            return
        }
        let ws = pool.gemmWorkspace
        ws.reserve(pool.threadCount)
        let a = Operand(base: a, ld: lda, layout: layoutA)
        let b = Operand(base: b, ld: ldb, layout: layoutB)
        // Small problems are not worth waking the other workers.
        if m * n * k < 1 << 16 {
            block(c, ldc, a, b, rows: 0..<m, cols: 0..<n, k: k, accumulate: accumulate, ws.workers[0])
            return
        }
        // Split C along its longer side. When split by rows, every thread needs all of B:
        // it is packed once, by all threads together, instead of once per thread.
        let mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr
        let byColumns = n >= m ? nPanels >= pool.threadCount : mPanels < pool.threadCount
        let packA = packsA(a, m: m, k: k)
        if byColumns {
            // Every thread reads all of A: when A is packed (see `packsA`), the threads pack it
            // together into one shared buffer, each a share of the panels, before the products.
            let packedA = packA && mPanels * mr * k <= sharedPackLimit ? ws.sharedA(mPanels * mr * k) : nil
            if let packedA {
                pool.parallelFor(mPanels) { panels in
                    packAPanels(packedA, a, rows: 0..<m, panels: panels, totalPanels: mPanels, k: k)
                }
            }
            pool.parallelFor(n, granule: nr) { cols, worker in
                block(c, ldc, a, b, rows: 0..<m, cols: cols, k: k, accumulate: accumulate, ws.workers[worker],
                      packedA: packedA.map { PackedA(base: $0, panels: mPanels, firstRow: 0) })
            }
        } else {
            let shared = sharedPackedB(b, panels: nPanels, n: n, k: k, pool: pool, ws)
            pool.parallelFor(m, granule: mr) { rows, worker in
                let w = ws.workers[worker]
                guard packA && mc * k <= 1 << 22 else {
                    block(c, ldc, a, b, rows: rows, cols: 0..<n, k: k, accumulate: accumulate, w, packedB: shared)
                    return
                }
                // A thread reads only its own rows of A: it packs them MC rows at a time into its own
                // buffer (which stays in L2), and runs all of C's columns on each such block.
                var i0 = rows.lowerBound
                while i0 < rows.upperBound {
                    let sub = i0..<min(rows.upperBound, i0 + mc)
                    let panels = (sub.count + mr - 1) / mr
                    let buffer = w.aBlock(panels * mr * k)
                    packAPanels(buffer, a, rows: sub, panels: 0..<panels, totalPanels: panels, k: k)
                    block(c, ldc, a, b, rows: sub, cols: 0..<n, k: k, accumulate: accumulate, w,
                          packedA: PackedA(base: buffer, panels: panels, firstRow: sub.lowerBound), packedB: shared)
                    i0 += mc
                }
            }
        }
    }

    /// Rows of A a thread packs at a time when C is split by rows: 16 panels, 128 KB at KC = 256
    /// (when all k columns of them exceed 16 MB, A is read in place instead).
    static let mc = 128

    /// op(A) packed by `packAPanels`: `panels` panels from row `firstRow`.
    struct PackedA {
        let base: UnsafeMutablePointer<Float>
        let panels: Int
        let firstRow: Int
    }

    /// Whether `multiply` packs all of op(A) once, into 8-row panels ([k][8], contiguous), before the
    /// blocked loops, instead of reading a normal A where it lies.
    /// - A transposed A is copied in any case (its k steps are a row apart); packing it once replaces
    ///   one strided copy per panel per NC-wide block of C (backward_weight with N = 768 copied A twice,
    ///   N = 50304 fifty times) by one pass that reads A's rows a few cache lines at a time.
    /// - Read in place, the kernel's eight rows of a normal A are eight streams a row stride apart;
    ///   with a stride that is a multiple of 4 KiB (K = 3072) all eight fall into the same L1 sets
    ///   and evict each other and the B panel (forward 3072×768 ran at 0.92× numpy). A packed panel
    ///   is one stream: 32 contiguous bytes per k step.
    /// - A large normal A (the LM head's 256 × 50304 dlogits, 51 MB) is read in place: it is read
    ///   once per thread anyway, and packing it adds a pass over memory (measured slower: 340
    ///   against 375–442 GFLOP/s for backward_input 768×50304).
    /// Measured (2026-12-07, M = 256, 2 threads): backward_weight 3072×768 410–426 → 485–507 GFLOP/s,
    /// the other products unchanged or faster.
    static func packsA(_ a: Operand, m: Int, k: Int) -> Bool {
        a.layout == .transposed || a.ld % 1024 == 0 || m * k <= 1 << 20
    }

    /// Up to this many rows (decoding a token per sequence), C is computed without packing A,
    /// and without packing a normal B.
    static let skinnyRows = 4

    /// C[m ≤ 4, N] (+)= A[m, K] · op(B), reading a normal B where it lies (one pass over each
    /// weight matrix per token, the memory-bound floor of decoding); a transposed B is packed one
    /// 32-column panel at a time. Threads claim C's columns two panels at a time. Each element is summed exactly as
    /// `block` sums it (a fused multiply-add chain from zero over each KC-deep block of k, the
    /// blocks added to C in order), so a row of C is bit-identical whichever path computed it,
    /// for any M and any thread count: what batch-invariant serving needs.
    static func skinny(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                       _ b: UnsafePointer<Float>, _ ldb: Int, _ layoutB: MatrixLayout,
                       m: Int, n: Int, k: Int, accumulate: Bool, pool: ThreadPool) {
        let ws = pool.gemmWorkspace
        ws.reserve(pool.threadCount)
        let operand = Operand(base: b, ld: ldb, layout: layoutB)
        // Small problems are not worth waking the other workers. Otherwise threads claim two panels at a
        // time: every element is still summed by one thread in one order, so which thread takes which
        // columns changes no result, and a thread paused by the system (a server's I/O sharing the
        // cores) no longer holds back the whole product.
        let granule = m * n * k < 1 << 16 ? n : 2 * nr
        pool.parallelForClaiming(n, granule: granule) { cols, worker in
            let w = ws.workers[worker]
            var j = cols.lowerBound
            while j < cols.upperBound {
                let width = min(nr, cols.upperBound - j)
                var pc = 0
                while pc < k {
                    let kcb = min(kc, k - pc)
                    let add = accumulate || pc > 0
                    // B's panel: rows a stride of ldb apart in place, or packed [kcb][32].
                    var bp: UnsafePointer<Float>, bK: Int
                    if layoutB == .normal && width == nr {
                        (bp, bK) = (b + pc * ldb + j, ldb)
                    } else {
                        packB(w.packedB, operand, rows: pc, cols: j, k: kcb, n: width)
                        (bp, bK) = (UnsafePointer(w.packedB), nr)
                    }
                    let ap = a + pc
                    let direct = width == nr
                    let cp = direct ? c + j : w.tile, ldcp = direct ? ldc : nr
                    switch m {
                    case 1: skinnyKernel(1, kcb, ap, lda, bp, bK, cp, ldcp, add: add && direct)
                    case 2: skinnyKernel(2, kcb, ap, lda, bp, bK, cp, ldcp, add: add && direct)
                    case 3: skinnyKernel(3, kcb, ap, lda, bp, bK, cp, ldcp, add: add && direct)
                    default: skinnyKernel(4, kcb, ap, lda, bp, bK, cp, ldcp, add: add && direct)
                    }
                    if !direct {
                        for i in 0..<m {
                            for jj in 0..<width {
                                let t = w.tile[i * nr + jj]
                                c[i * ldc + j + jj] = add ? c[i * ldc + j + jj] + t : t
                            }
                        }
                    }
                    pc += kc
                }
                j += nr
            }
        }
    }

    /// C[rows ≤ 4, 32] (+)= A[rows, k] · B[k][32] (row p of B at b + p·bK): per element the
    /// same fused multiply-add chain as `microKernel`.
    @inline(__always)
    static func skinnyKernel(_ rows: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>,
                             _ bK: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, add: Bool) {
        var c00 = Vec16(), c01 = Vec16(), c10 = Vec16(), c11 = Vec16()
        var c20 = Vec16(), c21 = Vec16(), c30 = Vec16(), c31 = Vec16()
        var bp = b
        for p in 0..<k {
            let b0 = load16(bp), b1 = load16(bp + 16)
            var av = Vec16(repeating: a[p]); c00.addProduct(av, b0); c01.addProduct(av, b1)
            if rows > 1 { av = Vec16(repeating: a[lda + p]); c10.addProduct(av, b0); c11.addProduct(av, b1) }
            if rows > 2 { av = Vec16(repeating: a[2 * lda + p]); c20.addProduct(av, b0); c21.addProduct(av, b1) }
            if rows > 3 { av = Vec16(repeating: a[3 * lda + p]); c30.addProduct(av, b0); c31.addProduct(av, b1) }
            bp += bK
        }
        @inline(__always) func put(_ row: Int, _ v0: Vec16, _ v1: Vec16) { storeRow(c + row * ldc, v0, v1, add: add) }
        put(0, c00, c01)
        if rows > 1 { put(1, c10, c11) }
        if rows > 2 { put(2, c20, c21) }
        if rows > 3 { put(3, c30, c31) }
    }

    /// Operands up to this many floats are packed once into a shared buffer; larger ones are
    /// packed block by block per thread.
    static let sharedPackLimit = 1 << 24
    /// All of op(B) packed as k-blocks of panels (block `pc` starts at `pc · panels · nr` and holds
    /// panel q at `q · kcb · nr`), threads splitting the panels; nil if it exceeds the limit.
    static func sharedPackedB(_ b: Operand, panels: Int, n: Int, k: Int, pool: ThreadPool,
                              _ ws: GEMMWorkspace) -> UnsafeMutablePointer<Float>? {
        let count = panels * nr * k
        guard count <= sharedPackLimit else { return nil }
        let buffer = ws.shared(count)
        pool.parallelFor(panels) { range in
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                for q in range {
                    packB(buffer + pc * panels * nr + q * kcb * nr, b, rows: pc, cols: q * nr, k: kcb, n: min(nr, n - q * nr))
                }
                pc += kc
            }
        }
        return buffer
    }

    struct Operand {
        let base: UnsafePointer<Float>
        let ld: Int
        let layout: MatrixLayout
    }

    /// Computes one thread's slice of C: for each NC-wide, KC-deep block of B (packed), run the
    /// micro-kernel over every 8-row panel of A and every 32-column panel of the block.
    /// `packedB`, when given, holds all of op(B) as `sharedPackedB` lays it out.
    /// `packedA`, when given, holds op(A)'s rows from its `firstRow` on as `packAPanels` lays them out.
    static func block(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: Operand, _ b: Operand,
                      rows: Range<Int>, cols: Range<Int>, k: Int, accumulate: Bool, _ ws: Workspace,
                      packedA: PackedA? = nil,
                      packedB: UnsafeMutablePointer<Float>? = nil) {
        let nPanelsTotal = (cols.upperBound + nr - 1) / nr
        var jc = cols.lowerBound
        while jc < cols.upperBound {
            let ncb = min(nc, cols.upperBound - jc)
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                let bBlock: UnsafeMutablePointer<Float>
                if let packedB {
                    bBlock = packedB + pc * nPanelsTotal * nr + jc * kcb
                } else {
                    packB(ws.packedB, b, rows: pc, cols: jc, k: kcb, n: ncb)
                    bBlock = ws.packedB
                }
                let add = accumulate || pc > 0
                var ir = rows.lowerBound
                while ir < rows.upperBound {
                    let mrb = min(mr, rows.upperBound - ir)
                    // A's panel in place: element (i, p) at ap + p·aK + i·aI.
                    // Stored transposed, A's k steps are a row apart: copying the panel (eight
                    // contiguous floats per step) keeps it in a few cache lines.
                    var ap: UnsafePointer<Float>, aK: Int, aI: Int
                    if let packedA {
                        (ap, aK, aI) = (UnsafePointer(packedA.base + pc * packedA.panels * mr + (ir - packedA.firstRow) / mr * kcb * mr), mr, 1)
                    } else if mrb == mr && a.layout == .normal {
                        (ap, aK, aI) = (a.base + ir * a.ld + pc, 1, a.ld)
                    } else {
                        packA(ws.packedA, a, rows: ir, count: mrb, cols: pc, k: kcb)
                        (ap, aK, aI) = (UnsafePointer(ws.packedA), mr, 1)
                    }
                    panelTimesBlock(kcb, ap, aK, aI, bBlock, c + ir * ldc + jc, ldc, rows: mrb, cols: ncb, add: add, tile: ws.tile)
                    ir += mr
                }
                pc += kc
            }
            jc += nc
        }
    }

    /// Stores (or, with `add`, adds) one 32-float row of a kernel's C tile: the epilogue of every kernel.
    @inline(__always)
    static func storeRow(_ p: UnsafeMutablePointer<Float>, _ v0: Vec16, _ v1: Vec16, add: Bool) {
        if add {
            store16(load16(p) + v0, p); store16(load16(p + 16) + v1, p + 16)
        } else {
            store16(v0, p); store16(v1, p + 16)
        }
    }

    /// C[rows ≤ 8, cols] (+)= A panel[rows, k] · packed B block[k, cols]: the micro-kernel over each
    /// 32-column panel of the block, an edge tile computed into `tile` and copied out.
    @inline(__always)
    static func panelTimesBlock(_ k: Int, _ a: UnsafePointer<Float>, _ aK: Int, _ aI: Int, _ bBlock: UnsafeMutablePointer<Float>,
                                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, cols: Int, add: Bool,
                                tile: UnsafeMutablePointer<Float>) {
        var jr = 0
        while jr < cols {
            let width = min(nr, cols - jr)
            let cp = c + jr, bp = bBlock + jr * k
            if rows == mr && width == nr {
                microKernel(k, a, aK, aI, bp, cp, ldc, add)
            } else {
                microKernel(k, a, aK, aI, bp, tile, nr, false)
                for i in 0..<rows {
                    for j in 0..<width {
                        let t = tile[i * nr + j]
                        cp[i * ldc + j] = add ? cp[i * ldc + j] + t : t
                    }
                }
            }
            jr += nr
        }
    }

    /// Packs op(B)[p0..<p0+k, j0..<j0+n] into NR-wide panels: panel q holds k rows of NR floats,
    /// the columns past n zero-filled.
    static func packB(_ dst: UnsafeMutablePointer<Float>, _ b: Operand, rows p0: Int, cols j0: Int, k: Int, n: Int) {
        var jr = 0
        while jr < n {
            let width = min(nr, n - jr)
            let panel = dst + jr * k
            switch b.layout {
            case .normal:
                var src = b.base + p0 * b.ld + j0 + jr
                if width == nr {
                    for p in 0..<k {
                        store16(load16(src), panel + p * nr)
                        store16(load16(src + 16), panel + p * nr + 16)
                        src += b.ld
                    }
                } else {
                    for p in 0..<k {
                        for j in 0..<width { panel[p * nr + j] = src[j] }
                        for j in width..<nr { panel[p * nr + j] = 0 }
                        src += b.ld
                    }
                }
            case .transposed where width == nr:
                // Row j of the stored matrix is column j of op(B): transpose 16×16 blocks in registers.
                var p = 0
                while p + 16 <= k {
                    for half in 0..<2 {
                        let src = b.base + (j0 + jr + 16 * half) * b.ld + p0 + p
                        transposeBlock16(src, ld: b.ld, panel + p * nr + 16 * half, ldOut: nr)
                    }
                    p += 16
                }
                for j in 0..<nr {
                    let src = b.base + (j0 + jr + j) * b.ld + p0
                    for q in p..<k { panel[q * nr + j] = src[q] }
                }
            case .transposed:
                for j in 0..<width {
                    let src = b.base + (j0 + jr + j) * b.ld + p0
                    for p in 0..<k { panel[p * nr + j] = src[p] }
                }
                if width < nr {
                    for p in 0..<k { for j in width..<nr { panel[p * nr + j] = 0 } }
                }
            }
            jr += nr
        }
    }

    /// dst[c * ldOut + r] = src[r * ld + c] for a 16×16 block.
    @inline(__always)
    static func transposeBlock16(_ src: UnsafePointer<Float>, ld: Int, _ dst: UnsafeMutablePointer<Float>, ldOut: Int) {
        let r = transposed16(src, ld: ld)
        for i in 0..<16 { store16(r[i], dst + i * ldOut) }
    }

    /// Column c of the 16×16 block at `src` as vector c. Four rounds of splitting every pair of rows
    /// into its even and odd lanes each rotate an element's (row, column) index bits by one place;
    /// four rotations of eight bits swap row and column.
    @inline(__always)
    static func transposed16(_ src: UnsafePointer<Float>, ld: Int) -> InlineArray<16, Vec16> {
        var r = InlineArray<16, Vec16>(repeating: Vec16())
        for i in 0..<16 { r[i] = load16(src + i * ld) }
        for _ in 0..<4 {
            var next = InlineArray<16, Vec16>(repeating: Vec16())
            for i in 0..<8 {
                next[i] = Vec16(lowHalf: r[2 * i].evenHalf, highHalf: r[2 * i + 1].evenHalf)
                next[8 + i] = Vec16(lowHalf: r[2 * i].oddHalf, highHalf: r[2 * i + 1].oddHalf)
            }
            r = next
        }
        return r
    }

    /// Packs op(A)'s rows `rows`, all k columns, as 8-row panels into `dst` in k-blocks: block `pc`
    /// starts at `pc · totalPanels · mr` and holds panel q (rows `rows.lowerBound + 8q …`) at
    /// `q · kcb · mr`, as [kcb][mr], rows past `rows` zero. Packs the panels `panels` only.
    static func packAPanels(_ dst: UnsafeMutablePointer<Float>, _ a: Operand, rows: Range<Int>, panels: Range<Int>,
                            totalPanels: Int, k: Int) {
        let r0 = rows.lowerBound, count = rows.count
        var pc = 0
        while pc < k {
            let kcb = min(kc, k - pc)
            let blockBase = dst + pc * totalPanels * mr
            switch a.layout {
            case .transposed:
                // Row p of the stored matrix holds k step p of every panel: read each row's stretch
                // of up to 8 panels (4 cache lines) at once, writing 8 floats to each panel.
                var q0 = panels.lowerBound
                while q0 < panels.upperBound {
                    let q1 = min(panels.upperBound, q0 + 8)
                    let full = max(q0, min(q1, count / mr))  // panels q0..<full lie wholly inside `rows`
                    for p in 0..<kcb {
                        let src = a.base + (pc + p) * a.ld + r0
                        var q = q0
                        while q < full {
                            store8(load8(src + q * mr), blockBase + q * kcb * mr + p * mr)
                            q += 1
                        }
                        while q < q1 {
                            let out = blockBase + q * kcb * mr + p * mr
                            for i in 0..<mr { out[i] = q * mr + i < count ? src[q * mr + i] : 0 }
                            q += 1
                        }
                    }
                    q0 = q1
                }
            case .normal:
                for q in panels {
                    let panel = blockBase + q * kcb * mr
                    let i0 = r0 + q * mr
                    if q * mr + mr <= count {
                        // 8 rows × 8 k steps transposed in registers.
                        var p = 0
                        while p + 8 <= kcb {
                            let r = transposed8(a.base + i0 * a.ld + pc + p, ld: a.ld)
                            for j in 0..<8 { store8(r[j], panel + (p + j) * mr) }
                            p += 8
                        }
                        while p < kcb {
                            for i in 0..<mr { panel[p * mr + i] = a.base[(i0 + i) * a.ld + pc + p] }
                            p += 1
                        }
                    } else {
                        for p in 0..<kcb {
                            for i in 0..<mr {
                                panel[p * mr + i] = q * mr + i < count ? a.base[(i0 + i) * a.ld + pc + p] : 0
                            }
                        }
                    }
                }
            }
            pc += kc
        }
    }

    /// Column c of the 8×8 block at `src` as vector c (three rounds of the even/odd split of `transposed16`).
    @inline(__always)
    static func transposed8(_ src: UnsafePointer<Float>, ld: Int) -> InlineArray<8, SIMD8<Float>> {
        var r = InlineArray<8, SIMD8<Float>>(repeating: SIMD8<Float>())
        for i in 0..<8 { r[i] = load8(src + i * ld) }
        for _ in 0..<3 {
            var next = InlineArray<8, SIMD8<Float>>(repeating: SIMD8<Float>())
            for i in 0..<4 {
                next[i] = SIMD8<Float>(lowHalf: r[2 * i].evenHalf, highHalf: r[2 * i + 1].evenHalf)
                next[4 + i] = SIMD8<Float>(lowHalf: r[2 * i].oddHalf, highHalf: r[2 * i + 1].oddHalf)
            }
            r = next
        }
        return r
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Copies rows i0..<i0+count (≤ MR) of op(A), columns p0..<p0+k, as [k][MR], zero-padded.
    static func packA(_ dst: UnsafeMutablePointer<Float>, _ a: Operand, rows i0: Int, count: Int, cols p0: Int, k: Int) {
        if a.layout == .transposed && count == mr {
            for p in 0..<k {
                let src = UnsafeRawPointer(a.base + (p0 + p) * a.ld + i0)
                UnsafeMutableRawPointer(dst + p * mr).storeBytes(of: src.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            }
            return
        }
        dst.update(repeating: 0, count: k * mr)
        for i in 0..<count {
            for p in 0..<k {
                dst[p * mr + i] = a.layout == .normal ? a.base[(i0 + i) * a.ld + p0 + p] : a.base[(p0 + p) * a.ld + i0 + i]
            }
        }
    }

    /// C[8, 32] (+)= A[8, k] · Bpanel[k][32], A's element (i, p) at a + p·aK + i·aI; sixteen zmm accumulators.
    @inline(__always)
    static func microKernel(_ k: Int, _ a: UnsafePointer<Float>, _ aK: Int, _ aI: Int, _ b: UnsafeMutablePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        var c00 = Vec16(), c01 = Vec16(), c10 = Vec16(), c11 = Vec16()
        var c20 = Vec16(), c21 = Vec16(), c30 = Vec16(), c31 = Vec16()
        var c40 = Vec16(), c41 = Vec16(), c50 = Vec16(), c51 = Vec16()
        var c60 = Vec16(), c61 = Vec16(), c70 = Vec16(), c71 = Vec16()
        var a0 = a, a1 = a + aI, a2 = a + 2 * aI, a3 = a + 3 * aI
        var a4 = a + 4 * aI, a5 = a + 5 * aI, a6 = a + 6 * aI, a7 = a + 7 * aI
        var bp = b
        for _ in 0..<k {
            let b0 = load16(bp), b1 = load16(bp + 16)
            var av = Vec16(repeating: a0.pointee); c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = Vec16(repeating: a1.pointee); c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = Vec16(repeating: a2.pointee); c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = Vec16(repeating: a3.pointee); c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = Vec16(repeating: a4.pointee); c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = Vec16(repeating: a5.pointee); c50.addProduct(av, b0); c51.addProduct(av, b1)
            av = Vec16(repeating: a6.pointee); c60.addProduct(av, b0); c61.addProduct(av, b1)
            av = Vec16(repeating: a7.pointee); c70.addProduct(av, b0); c71.addProduct(av, b1)
            a0 += aK; a1 += aK; a2 += aK; a3 += aK; a4 += aK; a5 += aK; a6 += aK; a7 += aK
            bp += nr
        }
        @inline(__always) func put(_ row: Int, _ v0: Vec16, _ v1: Vec16) { storeRow(c + row * ldc, v0, v1, add: accumulate) }
        put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
        put(4, c40, c41); put(5, c50, c51); put(6, c60, c61); put(7, c70, c71)
    }

    /// The specification: plain triple loop in Double.
    public static func multiplyReference(
        _ a: [Double], lda: Int, _ layoutA: MatrixLayout,
        _ b: [Double], ldb: Int, _ layoutB: MatrixLayout,
        m: Int, n: Int, k: Int
    ) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = layoutA == .normal ? a[i * lda + p] : a[p * lda + i]
                    let bv = layoutB == .normal ? b[p * ldb + j] : b[j * ldb + p]
                    s += av * bv
                }
                c[i * n + j] = s
            }
        }
        return c
    }
}

/// GEMM's scratch memory for one `ThreadPool`: a `GEMM.Workspace` per worker and the shared packed B, each grown on first need and
/// freed with the pool. Only the thread that drives the pool touches it (outside a
/// parallel region), so it needs no lock.
final class GEMMWorkspace {
    private(set) var workers: [GEMM.Workspace] = []
    private var sharedBuffer: UnsafeMutablePointer<Float>?
    private var sharedCapacity = 0
    private var sharedABuffer: UnsafeMutablePointer<Float>?
    private var sharedACapacity = 0

    deinit { sharedBuffer?.deallocate(); sharedABuffer?.deallocate() }

    func reserve(_ count: Int) {
        while workers.count < count { workers.append(GEMM.Workspace()) }
    }

    /// Room for all of a packed op(B) (`sharedPackedB`), grown as needed.
    func shared(_ count: Int) -> UnsafeMutablePointer<Float> {
        grow(&sharedBuffer, &sharedCapacity, count)
    }

    /// Room for all of a packed op(A) (`packAPanels`), grown as needed.
    func sharedA(_ count: Int) -> UnsafeMutablePointer<Float> {
        grow(&sharedABuffer, &sharedACapacity, count)
    }

    private func grow(_ buffer: inout UnsafeMutablePointer<Float>?, _ capacity: inout Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if let buffer, capacity >= count { return buffer }
        buffer?.deallocate()
        let fresh = GEMM.Workspace.allocate(count)
        buffer = fresh
        capacity = count
        return fresh
    }
}

