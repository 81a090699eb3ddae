// General matrix multiply, C[M, N] (+)= op(A)[M, K] · op(B)[K, N], row-major with
// leading dimensions, on a packed AVX-512 micro-kernel (the BLIS scheme: pack a
// block of B into NR-wide panels and a block of A into MR-tall panels so that
// the micro-kernel streams both contiguously; keep a 6x32 tile of C in registers).
//
// Threads split C by columns (or by rows when C is tall and narrow) into static,
// panel-aligned slices; each element of C is summed by one thread in a fixed
// k-order, so results do not depend on timing.
import Foundation

/// How a GEMM operand is read: `.normal` reads `x[i * ld + j]`, `.transposed` reads `x[j * ld + i]`.
public enum MatrixLayout: Sendable { case normal, transposed }

public enum GEMM {
    static let mr = 8, nr = 32
    static let kc = 256, mc = 96, nc = 1024

    /// Per-thread packing buffers, allocated once for the largest block.
    final class Workspace {
        let packedA: UnsafeMutablePointer<Float>
        let packedB: UnsafeMutablePointer<Float>
        let tile: UnsafeMutablePointer<Float>
        init() {
            packedA = Self.allocate(GEMM.mc * GEMM.kc)
            packedB = Self.allocate(GEMM.nc * GEMM.kc)
            tile = Self.allocate(GEMM.mr * GEMM.nr)
        }
        static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
        }
    }
    // Indexed by worker; grown on first use, never freed (a few MB per thread).
    nonisolated(unsafe) static var workspaces: [Workspace] = []
    static let workspaceLock = NSLock()

    static func workspace(_ worker: Int) -> Workspace { workspaces[worker] }

    static func reserveWorkspaces(_ count: Int) {
        workspaceLock.lock(); defer { workspaceLock.unlock() }
        while workspaces.count < count { workspaces.append(Workspace()) }
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
        reserveWorkspaces(pool.threadCount)
        let a = Operand(base: a, ld: lda, layout: layoutA)
        let b = Operand(base: b, ld: ldb, layout: layoutB)
        // Small problems are not worth waking the other workers.
        if m * n * k < 1 << 16 {
            block(c, ldc, a, b, rows: 0..<m, cols: 0..<n, k: k, accumulate: accumulate, workspace(0))
            return
        }
        // Split C along its longer side; the operand every thread reads whole is packed once,
        // by all threads together, instead of once per thread.
        let mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr
        let byColumns = n >= m ? nPanels >= pool.threadCount : mPanels < pool.threadCount
        if byColumns {
            let shared = sharedPack(count: mPanels * mr * k) { buffer in
                packWhole(buffer, panels: mPanels, panelWidth: mr, k: k, pool: pool) { dst, p0, kcb, first in
                    packA(dst, a, rows: first * mr, cols: p0, m: min(mr, m - first * mr), k: kcb)
                }
            }
            pool.parallelFor(n, granule: nr) { cols, worker in
                block(c, ldc, a, b, rows: 0..<m, cols: cols, k: k, accumulate: accumulate, workspace(worker),
                      packedA: shared.map { ($0, mPanels * mr) })
            }
        } else {
            let shared = sharedPack(count: nPanels * nr * k) { buffer in
                packWhole(buffer, panels: nPanels, panelWidth: nr, k: k, pool: pool) { dst, p0, kcb, first in
                    packB(dst, b, rows: p0, cols: first * nr, k: kcb, n: min(nr, n - first * nr))
                }
            }
            pool.parallelFor(m, granule: mr) { rows, worker in
                block(c, ldc, a, b, rows: rows, cols: 0..<n, k: k, accumulate: accumulate, workspace(worker),
                      packedB: shared.map { ($0, nPanels * nr) })
            }
        }
    }

    /// Operands up to this many floats are packed once into a shared buffer (the LM head's
    /// dlogits at B·T = 256 is 12.9M); larger ones are packed block by block per thread.
    static let sharedPackLimit = 1 << 25
    nonisolated(unsafe) static var sharedBuffer: UnsafeMutablePointer<Float>?
    nonisolated(unsafe) static var sharedCapacity = 0

    /// Runs `pack` on the shared buffer when `count` fits the limit; returns the buffer, or nil.
    static func sharedPack(count: Int, _ pack: (UnsafeMutablePointer<Float>) -> Void) -> UnsafeMutablePointer<Float>? {
        guard count <= sharedPackLimit else { return nil }
        workspaceLock.lock()
        if sharedCapacity < count {
            sharedBuffer?.deallocate()
            sharedBuffer = Workspace.allocate(count)
            sharedCapacity = count
        }
        let buffer = sharedBuffer!
        workspaceLock.unlock()
        pack(buffer)
        return buffer
    }

    /// Packs a whole operand as k-blocks of `panels` panels: block `pc` starts at `pc · panels · width`
    /// and holds panel q at `q · kcb · width` floats. Threads split the panels statically.
    static func packWhole(_ buffer: UnsafeMutablePointer<Float>, panels: Int, panelWidth: Int, k: Int, pool: ThreadPool,
                          _ packPanel: (UnsafeMutablePointer<Float>, _ p0: Int, _ kcb: Int, _ panel: Int) -> Void) {
        pool.parallelFor(panels) { range in
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                for q in range { packPanel(buffer + pc * panels * panelWidth + q * kcb * panelWidth, pc, kcb, q) }
                pc += kc
            }
        }
    }

    struct Operand {
        let base: UnsafePointer<Float>
        let ld: Int
        let layout: MatrixLayout
    }

    /// Computes one thread's slice of C with the five-loop blocked algorithm.
    /// `packedA`/`packedB`, when given, hold the whole operand packed by `packWhole` (buffer, padded extent).
    static func block(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: Operand, _ b: Operand,
                      rows: Range<Int>, cols: Range<Int>, k: Int, accumulate: Bool, _ ws: Workspace,
                      packedA: (UnsafeMutablePointer<Float>, Int)? = nil,
                      packedB: (UnsafeMutablePointer<Float>, Int)? = nil) {
        var jc = cols.lowerBound
        while jc < cols.upperBound {
            let ncb = min(nc, cols.upperBound - jc)
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                let bBlock: UnsafeMutablePointer<Float>
                if let (buffer, extent) = packedB {
                    bBlock = buffer + pc * extent + jc * kcb
                } else {
                    packB(ws.packedB, b, rows: pc, cols: jc, k: kcb, n: ncb)
                    bBlock = ws.packedB
                }
                let add = accumulate || pc > 0
                var ic = rows.lowerBound
                while ic < rows.upperBound {
                    let mcb = min(mc, rows.upperBound - ic)
                    let aBlock: UnsafeMutablePointer<Float>
                    if let (buffer, extent) = packedA {
                        aBlock = buffer + pc * extent + ic * kcb
                    } else {
                        packA(ws.packedA, a, rows: ic, cols: pc, m: mcb, k: kcb)
                        aBlock = ws.packedA
                    }
                    var ir = 0
                    while ir < mcb {
                        let mrb = min(mr, mcb - ir)
                        let ap = aBlock + ir * kcb
                        var jr = 0
                        while jr < ncb {
                            let nrb = min(nr, ncb - jr)
                            let cp = c + (ic + ir) * ldc + jc + jr
                            let bp = bBlock + jr * kcb
                            if mrb == mr && nrb == nr {
                                microKernel(kcb, ap, bp, cp, ldc, add)
                            } else {
                                microKernel(kcb, ap, bp, ws.tile, nr, false)
                                for i in 0..<mrb {
                                    for j in 0..<nrb {
                                        let t = ws.tile[i * nr + j]
                                        cp[i * ldc + j] = add ? cp[i * ldc + j] + t : t
                                    }
                                }
                            }
                            jr += nr
                        }
                        ir += mr
                    }
                    ic += mc
                }
                pc += kc
            }
            jc += nc
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

    /// Packs op(A)[i0..<i0+m, p0..<p0+k] into MR-tall panels: panel q holds k columns of MR floats.
    static func packA(_ dst: UnsafeMutablePointer<Float>, _ a: Operand, rows i0: Int, cols p0: Int, m: Int, k: Int) {
        var ir = 0
        while ir < m {
            let height = min(mr, m - ir)
            let panel = dst + ir * k
            switch a.layout {
            case .normal where height == mr && ir + 2 * mr <= m:
                // Two panels at once: transpose 16 rows × 16 columns, the halves going to each panel.
                let next = panel + mr * k
                var p = 0
                while p + 16 <= k {
                    let t = transposed16(a.base + (i0 + ir) * a.ld + p0 + p, ld: a.ld)
                    for q in 0..<16 {
                        UnsafeMutableRawPointer(panel + (p + q) * mr).storeBytes(of: t[q].lowHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(next + (p + q) * mr).storeBytes(of: t[q].highHalf, as: SIMD8<Float>.self)
                    }
                    p += 16
                }
                for i in 0..<(2 * mr) {
                    let src = a.base + (i0 + ir + i) * a.ld + p0
                    let dst = i < mr ? panel + i : next + (i - mr)
                    for q in p..<k { dst[q * mr] = src[q] }
                }
                ir += mr  // the loop's own step covers the second panel
            case .normal:
                for i in 0..<height {
                    let src = a.base + (i0 + ir + i) * a.ld + p0
                    for p in 0..<k { panel[p * mr + i] = src[p] }
                }
            case .transposed:
                var src = a.base + p0 * a.ld + i0 + ir
                for p in 0..<k {
                    for i in 0..<height { panel[p * mr + i] = src[i] }
                    src += a.ld
                }
            }
            if height < mr {
                for p in 0..<k { for i in height..<mr { panel[p * mr + i] = 0 } }
            }
            ir += mr
        }
    }

    /// C[8, 32] (+)= Apanel[k][8] · Bpanel[k][32]; sixteen zmm accumulators.
    @inline(__always)
    static func microKernel(_ k: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        var c00 = Vec16(), c01 = Vec16(), c10 = Vec16(), c11 = Vec16()
        var c20 = Vec16(), c21 = Vec16(), c30 = Vec16(), c31 = Vec16()
        var c40 = Vec16(), c41 = Vec16(), c50 = Vec16(), c51 = Vec16()
        var c60 = Vec16(), c61 = Vec16(), c70 = Vec16(), c71 = Vec16()
        var ap = a, bp = b
        for _ in 0..<k {
            let b0 = load16(bp), b1 = load16(bp + 16)
            var av = Vec16(repeating: ap[0]); c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = Vec16(repeating: ap[1]); c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = Vec16(repeating: ap[2]); c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = Vec16(repeating: ap[3]); c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = Vec16(repeating: ap[4]); c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = Vec16(repeating: ap[5]); c50.addProduct(av, b0); c51.addProduct(av, b1)
            av = Vec16(repeating: ap[6]); c60.addProduct(av, b0); c61.addProduct(av, b1)
            av = Vec16(repeating: ap[7]); c70.addProduct(av, b0); c71.addProduct(av, b1)
            ap += mr; bp += nr
        }
        @inline(__always) func put(_ row: Int, _ v0: Vec16, _ v1: Vec16) {
            let p = c + row * ldc
            if accumulate {
                store16(load16(p) + v0, p); store16(load16(p + 16) + v1, p + 16)
            } else {
                store16(v0, p); store16(v1, p + 16)
            }
        }
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
