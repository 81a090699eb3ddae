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
    static let mr = 6, nr = 32
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
        let serial = m * n * k < 1 << 16
        let byColumns = n >= m || (n + nr - 1) / nr >= 2 * pool.threadCount
        if serial {
            block(c, ldc, a, b, rows: 0..<m, cols: 0..<n, k: k, accumulate: accumulate, workspace(0))
        } else if byColumns {
            pool.parallelFor(n, granule: nr) { cols, worker in
                block(c, ldc, a, b, rows: 0..<m, cols: cols, k: k, accumulate: accumulate, workspace(worker))
            }
        } else {
            pool.parallelFor(m, granule: mr) { rows, worker in
                block(c, ldc, a, b, rows: rows, cols: 0..<n, k: k, accumulate: accumulate, workspace(worker))
            }
        }
    }

    struct Operand {
        let base: UnsafePointer<Float>
        let ld: Int
        let layout: MatrixLayout
    }

    /// Computes one thread's slice of C with the five-loop blocked algorithm.
    static func block(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ a: Operand, _ b: Operand,
                      rows: Range<Int>, cols: Range<Int>, k: Int, accumulate: Bool, _ ws: Workspace) {
        var jc = cols.lowerBound
        while jc < cols.upperBound {
            let ncb = min(nc, cols.upperBound - jc)
            var pc = 0
            while pc < k {
                let kcb = min(kc, k - pc)
                packB(ws.packedB, b, rows: pc, cols: jc, k: kcb, n: ncb)
                let add = accumulate || pc > 0
                var ic = rows.lowerBound
                while ic < rows.upperBound {
                    let mcb = min(mc, rows.upperBound - ic)
                    packA(ws.packedA, a, rows: ic, cols: pc, m: mcb, k: kcb)
                    var ir = 0
                    while ir < mcb {
                        let mrb = min(mr, mcb - ir)
                        let ap = ws.packedA + ir * kcb
                        var jr = 0
                        while jr < ncb {
                            let nrb = min(nr, ncb - jr)
                            let cp = c + (ic + ir) * ldc + jc + jr
                            let bp = ws.packedB + jr * kcb
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
            case .transposed:
                // Row j of the stored matrix is column j of op(B): read rows, write columns.
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

    /// Packs op(A)[i0..<i0+m, p0..<p0+k] into MR-tall panels: panel q holds k columns of MR floats.
    static func packA(_ dst: UnsafeMutablePointer<Float>, _ a: Operand, rows i0: Int, cols p0: Int, m: Int, k: Int) {
        var ir = 0
        while ir < m {
            let height = min(mr, m - ir)
            let panel = dst + ir * k
            switch a.layout {
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

    /// C[6, 32] (+)= Apanel[k][6] · Bpanel[k][32]; twelve zmm accumulators.
    @inline(__always)
    static func microKernel(_ k: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        var c00 = Vec16(), c01 = Vec16(), c10 = Vec16(), c11 = Vec16()
        var c20 = Vec16(), c21 = Vec16(), c30 = Vec16(), c31 = Vec16()
        var c40 = Vec16(), c41 = Vec16(), c50 = Vec16(), c51 = Vec16()
        var ap = a, bp = b
        for _ in 0..<k {
            let b0 = load16(bp), b1 = load16(bp + 16)
            var av = Vec16(repeating: ap[0]); c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = Vec16(repeating: ap[1]); c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = Vec16(repeating: ap[2]); c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = Vec16(repeating: ap[3]); c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = Vec16(repeating: ap[4]); c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = Vec16(repeating: ap[5]); c50.addProduct(av, b0); c51.addProduct(av, b1)
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
        put(0, c00, c01); put(1, c10, c11); put(2, c20, c21)
        put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
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
