// Causal multi-head self-attention on packed q, k, v (the output of c_attn):
// for each head, att = softmax(q·kᵀ/√hs with the future masked), y = att · v.
// The forward pass keeps the attention probabilities (B·NH·T² floats: O(T²) per
// head) for the backward pass; attention dropout, when on, is re-derived from its key.
// Keys and values are transposed per head into scratch, so each query's scores and
// each output gradient's dot products run sixteen key positions per vector. Without
// dropout both passes take four queries at a time, for any head size (16, 32, 48, 64 …,
// odd ones through masked last vectors): every load of a key or value row then serves
// four queries, and in the backward pass each key's and value's gradient row is read and
// written once per four queries (rank4Update) instead of once per query. The remaining
// 1–3 queries of a sequence, and every query under dropout, take the one-query path.
import Foundation

public enum Attention {
    /// Scratch floats one worker needs for sequences of `seq` with heads of `headSize`.
    /// (The transposed keys or values, then four rows of scores or their gradients.)
    public static func scratchPerWorker(seq: Int, headSize: Int) -> Int { (headSize + 4) * paddedLength(seq) }

    /// Rows of the transposed keys/values are padded to whole vectors, so a score row's last
    /// partial vector can be computed with full-width loads, plus one vector so that rows are
    /// not a multiple of 4 KB apart (they would all fall in the same L1 cache set).
    public static func paddedLength(_ seq: Int) -> Int { (seq + 15) / 16 * 16 + 16 }

    /// out: [B, T, C], att: [B, NH, T, T], qkv: [B, T, 3C] (q, k, v each split into NH heads of C/NH),
    /// scratch: [threads, scratchPerWorker]
    public static func forward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
                               qkv: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                               batch: Int, seq t: Int, channels c: Int, heads: Int,
                               dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range, worker in
            let tp = paddedLength(t)
            let kT = scratch + worker * scratchPerWorker(seq: t, headSize: hs)  // [hs, tp], then a row of tp
            for bh in range {
                let b = bh / heads, h = bh % heads
                let base = qkv + b * t * c3 + h * hs
                transpose(kT, base + c, rows: t, columns: hs, stride: c3, ld: tp)
                var i = 0
                // Four queries at a time share every load of keys and values (any head size: the
                // last partial vector of a head is loaded masked).
                while p == 0 && i + 4 <= t {
                    let rows = att + (bh * t + i) * t
                    rowTimesMatrix4(rows, t, base + i * c3, c3, kT, k: hs, n: i + 4, ld: tp, scale: scale)
                    for r in 0..<4 { softmaxRow(rows + r * t, i + r + 1, t) }
                    weightedSum4(out + (b * t + i) * c + h * hs, c, rows, t, base + 2 * c, rows: i + 4, stride: c3, width: hs)
                    i += 4
                }
                while i < t {
                    defer { i += 1 }
                    let row = att + (bh * t + i) * t
                    // Scores for keys 0...i, sixteen keys at a time: row[j] = q_i · k_j / √hs.
                    rowTimesMatrix(row, base + i * c3, kT, k: hs, n: i + 1, ld: tp, scale: scale)
                    softmaxRow(row, i + 1, t)
                    if p > 0 {
                        // The output mixes values with the dropped-out weights; row keeps the softmax.
                        let dropped = kT + hs * tp
                        for j in 0...i {
                            let kept = Dropout.keeps(key: key, index: (bh * t + i) * t + j, threshold: threshold)
                            dropped[j] = kept ? row[j] * keepScale : 0
                        }
                        weightedSum(out + (b * t + i) * c + h * hs, dropped, base + 2 * c, rows: i + 1, stride: c3, width: hs)
                    } else {
                        weightedSum(out + (b * t + i) * c + h * hs, row, base + 2 * c, rows: i + 1, stride: c3, width: hs)
                    }
                }
            }
        }
    }

    /// dqkv: [B, T, 3C] (=), dout: [B, T, C], att: [B, NH, T, T], qkv: [B, T, 3C],
    /// scratch: [threads, scratchPerWorker]
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                att: UnsafePointer<Float>, qkv: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                batch: Int, seq t: Int, channels c: Int, heads: Int,
                                dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range, worker in
            let tp = paddedLength(t)
            let vT = scratch + worker * scratchPerWorker(seq: t, headSize: hs)  // [hs, tp]
            let datt = vT + hs * tp                                               // [4, tp]
            for bh in range {
                let b = bh / heads, h = bh % heads
                let base = qkv + b * t * c3 + h * hs
                let dbase = dqkv + b * t * c3 + h * hs
                for i in 0..<t {
                    for part in 0..<3 { (dbase + i * c3 + part * c).update(repeating: 0, count: hs) }
                }
                transpose(vT, base + 2 * c, rows: t, columns: hs, stride: c3, ld: tp)
                var i = 0
                // Four queries at a time (without dropout): their score gradients come from one pass over
                // the values, their query gradients from one pass over the keys, and each key's and value's
                // gradient takes the four queries' contributions in one read-modify-write.
                while p == 0 && i + 4 <= t {
                    let n = i + 4
                    let rows = att + (bh * t + i) * t                  // [4, t]: zero past each row's diagonal
                    let dy = dout + (b * t + i) * c + h * hs            // [4, hs], rows c apart
                    // datt[r][j] = dy_{i+r} · v_j for j < n.
                    rowTimesMatrix4(datt, tp, dy, c, vT, k: hs, n: n, ld: tp, scale: 1)
                    // dv_j += Σ_r att[i+r, j] · dy_{i+r}.
                    rank4Update(dbase + 2 * c, c3, rows, t, dy, c, n: n, width: hs)
                    // Softmax backward, then through the scaled dot products: dpre = att ⊙ (datt − Σ att·datt) · scale,
                    // zero past the diagonal because att is.
                    for r in 0..<4 { softmaxBackwardRow(datt + r * tp, rows + r * t, n: n, rowLength: t, scale: scale) }
                    // dq_{i+r} = Σ_j dpre[r][j] · k_j (each query's gradient is written once).
                    weightedSum4(dbase + i * c3, c3, datt, tp, base + c, rows: n, stride: c3, width: hs)
                    // dk_j += Σ_r dpre[r][j] · q_{i+r}.
                    rank4Update(dbase + c, c3, datt, tp, base + i * c3, c3, n: n, width: hs)
                    i += 4
                }
                while i < t {
                    defer { i += 1 }
                    let row = att + (bh * t + i) * t
                    let dy = dout + (b * t + i) * c + h * hs
                    // datt[j] = dy · v_j, then through the dropout mask; dv_j += att'[i, j] · dy.
                    rowTimesMatrix(datt, dy, vT, k: hs, n: i + 1, ld: tp, scale: 1)
                    var weighted: Float = 0
                    for j in 0...i {
                        var m: Float = 1
                        if p > 0 {
                            m = Dropout.keeps(key: key, index: (bh * t + i) * t + j, threshold: threshold) ? keepScale : 0
                        }
                        datt[j] *= m
                        axpy(dbase + j * c3 + 2 * c, row[j] * m, dy, hs)
                        weighted += row[j] * datt[j]
                    }
                    // Softmax backward, then through the scaled dot products.
                    let q = base + i * c3
                    for j in 0...i {
                        let dpre = row[j] * (datt[j] - weighted) * scale
                        datt[j] = dpre
                        axpy(dbase + j * c3 + c, dpre, q, hs)
                    }
                    weightedSum(dbase + i * c3, datt, base + c, rows: i + 1, stride: c3, width: hs, accumulate: true)
                }
            }
        }
    }

    /// out[0..<width] (=, or += when `accumulate`) Σ_r weights[r] · m[r, 0..<width]; m rows `stride` apart.
    /// Up to 64 output lanes stay in four registers across all rows: four independent FMA chains.
    @inline(__always)
    static func weightedSum(_ out: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>, _ m: UnsafePointer<Float>,
                            rows: Int, stride: Int, width: Int, accumulate: Bool = false) {
        var d = 0
        while d + 64 <= width {
            var a0 = accumulate ? load16(out + d) : Vec16(), a1 = accumulate ? load16(out + d + 16) : Vec16()
            var a2 = accumulate ? load16(out + d + 32) : Vec16(), a3 = accumulate ? load16(out + d + 48) : Vec16()
            for r in 0..<rows {
                let w = Vec16(repeating: weights[r]), row = m + r * stride + d
                a0.addProduct(w, load16(row)); a1.addProduct(w, load16(row + 16))
                a2.addProduct(w, load16(row + 32)); a3.addProduct(w, load16(row + 48))
            }
            store16(a0, out + d); store16(a1, out + d + 16); store16(a2, out + d + 32); store16(a3, out + d + 48)
            d += 64
        }
        while d < width {
            let lanes = min(16, width - d)
            var acc = accumulate ? loadPartial(out + d, lanes) : Vec16()
            if lanes == 16 {
                for r in 0..<rows { acc.addProduct(Vec16(repeating: weights[r]), load16(m + r * stride + d)) }
                store16(acc, out + d)
            } else {
                for r in 0..<rows { acc.addProduct(Vec16(repeating: weights[r]), loadPartial(m + r * stride + d, lanes)) }
                storePartial(acc, out + d, lanes)
            }
            d += 16
        }
    }

    /// Scores of four consecutive queries: out_r[0..<n] = scale · Σ_d x_r[d] · m[d, 0..<n] for r < 4,
    /// query r at x + r·xStride, its scores at out + r·outStride; m: [k, ld], ld ≥ n rounded up to 16.
    @inline(__always)
    static func rowTimesMatrix4(_ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ x: UnsafePointer<Float>,
                                _ xStride: Int, _ m: UnsafePointer<Float>, k: Int, n: Int, ld: Int, scale: Float) {
        var j = 0
        while j < n {
            var a00 = Vec16(), a01 = Vec16(), a10 = Vec16(), a11 = Vec16()
            var a20 = Vec16(), a21 = Vec16(), a30 = Vec16(), a31 = Vec16()
            let two = j + 16 < n
            for d in 0..<k {
                let row = m + d * ld + j
                let m0 = load16(row), m1 = two ? load16(row + 16) : Vec16()
                var xd = Vec16(repeating: x[d]); a00.addProduct(xd, m0); a01.addProduct(xd, m1)
                xd = Vec16(repeating: x[xStride + d]); a10.addProduct(xd, m0); a11.addProduct(xd, m1)
                xd = Vec16(repeating: x[2 * xStride + d]); a20.addProduct(xd, m0); a21.addProduct(xd, m1)
                xd = Vec16(repeating: x[3 * xStride + d]); a30.addProduct(xd, m0); a31.addProduct(xd, m1)
            }
            @inline(__always) func put(_ r: Int, _ v0: Vec16, _ v1: Vec16) {
                let o = out + r * outStride + j
                if j + 16 <= n { store16(v0 * scale, o) } else { storePartial(v0 * scale, o, n - j) }
                if two {
                    if j + 32 <= n { store16(v1 * scale, o + 16) } else { storePartial(v1 * scale, o + 16, n - j - 16) }
                }
            }
            put(0, a00, a01); put(1, a10, a11); put(2, a20, a21); put(3, a30, a31)
            j += 32
        }
    }

    /// out_q[0..<width] = Σ_r w_q[r] · m[r, 0..<width] for four queries q (outputs `outStride` apart,
    /// weight rows `wStride` apart), any width: 64 lanes at a time (sixteen accumulators share each
    /// row of m), then 32, then 16 (the last partial vector loaded and stored masked). Each lane is
    /// the fused multiply-add chain over r in order that `weightedSum` computes, so the two agree bit for bit.
    @inline(__always)
    static func weightedSum4(_ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ w: UnsafePointer<Float>, _ wStride: Int,
                             _ m: UnsafePointer<Float>, rows: Int, stride: Int, width: Int) {
        var d = 0
        while d + 64 <= width {
            var acc = InlineArray<16, Vec16>(repeating: Vec16())
            for r in 0..<rows {
                let row = m + r * stride + d
                let v0 = load16(row), v1 = load16(row + 16), v2 = load16(row + 32), v3 = load16(row + 48)
                for q in 0..<4 {
                    let wq = Vec16(repeating: w[q * wStride + r])
                    acc[4 * q].addProduct(wq, v0); acc[4 * q + 1].addProduct(wq, v1)
                    acc[4 * q + 2].addProduct(wq, v2); acc[4 * q + 3].addProduct(wq, v3)
                }
            }
            for q in 0..<4 {
                let o = out + q * outStride + d
                store16(acc[4 * q], o); store16(acc[4 * q + 1], o + 16)
                store16(acc[4 * q + 2], o + 32); store16(acc[4 * q + 3], o + 48)
            }
            d += 64
        }
        if d + 32 <= width {
            var acc = InlineArray<8, Vec16>(repeating: Vec16())
            for r in 0..<rows {
                let row = m + r * stride + d
                let v0 = load16(row), v1 = load16(row + 16)
                for q in 0..<4 {
                    let wq = Vec16(repeating: w[q * wStride + r])
                    acc[2 * q].addProduct(wq, v0); acc[2 * q + 1].addProduct(wq, v1)
                }
            }
            for q in 0..<4 {
                let o = out + q * outStride + d
                store16(acc[2 * q], o); store16(acc[2 * q + 1], o + 16)
            }
            d += 32
        }
        while d < width {
            let lanes = min(16, width - d)
            var a0 = Vec16(), a1 = Vec16(), a2 = Vec16(), a3 = Vec16()
            for r in 0..<rows {
                let row = m + r * stride + d
                let v = lanes == 16 ? load16(row) : loadPartial(row, lanes)
                a0.addProduct(Vec16(repeating: w[r]), v); a1.addProduct(Vec16(repeating: w[wStride + r]), v)
                a2.addProduct(Vec16(repeating: w[2 * wStride + r]), v); a3.addProduct(Vec16(repeating: w[3 * wStride + r]), v)
            }
            @inline(__always) func put(_ q: Int, _ a: Vec16) {
                if lanes == 16 { store16(a, out + q * outStride + d) } else { storePartial(a, out + q * outStride + d, lanes) }
            }
            put(0, a0); put(1, a1); put(2, a2); put(3, a3)
            d += 16
        }
    }

    /// y_j[0..<width] += Σ_{r<4} w[r·wStride + j] · x_r[0..<width] for j < n (y_j at y + j·yStride, x_r at
    /// x + r·xStride): four rank-1 updates fused, each 16-lane slice of the four x rows held in registers
    /// while it sweeps the rows of y, so each y row is read and written once per four updates.
    @inline(__always)
    static func rank4Update(_ y: UnsafeMutablePointer<Float>, _ yStride: Int, _ w: UnsafePointer<Float>, _ wStride: Int,
                            _ x: UnsafePointer<Float>, _ xStride: Int, n: Int, width: Int) {
        var d = 0
        while d < width {
            let lanes = min(16, width - d)
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec16 { lanes == 16 ? load16(p) : loadPartial(p, lanes) }
            let x0 = load(x + d), x1 = load(x + xStride + d), x2 = load(x + 2 * xStride + d), x3 = load(x + 3 * xStride + d)
            for j in 0..<n {
                let yp = y + j * yStride + d
                var acc = load(UnsafePointer(yp))
                acc.addProduct(Vec16(repeating: w[j]), x0)
                acc.addProduct(Vec16(repeating: w[wStride + j]), x1)
                acc.addProduct(Vec16(repeating: w[2 * wStride + j]), x2)
                acc.addProduct(Vec16(repeating: w[3 * wStride + j]), x3)
                if lanes == 16 { store16(acc, yp) } else { storePartial(acc, yp, lanes) }
            }
            d += 16
        }
    }

    /// d[0..<n] ← a ⊙ (d − Σ a·d) · scale over j < n: the softmax's backward for one row of probabilities
    /// `a` (a row of `rowLength` floats, zero past the diagonal) and its output gradient d (a scratch row
    /// padded past n to whole vectors).
    @inline(__always)
    static func softmaxBackwardRow(_ d: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, n: Int, rowLength: Int,
                                   scale: Float) {
        let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        // a's lanes j..<j+16 with those at or past n read as 0 (never past the end of the row).
        @inline(__always) func loadA(_ j: Int) -> Vec16 {
            let v = j + 16 <= rowLength ? load16(a + j) : loadPartial(a + j, min(n, rowLength) - j)
            return v.replacing(with: 0, where: lanes .>= SIMD16<Int32>(repeating: Int32(n - j)))
        }
        var acc = Vec16()
        var j = 0
        while j < n {
            // d past n holds whatever the scratch held (possibly not a number): masked out of the sum.
            let dj = load16(d + j).replacing(with: 0, where: lanes .>= SIMD16<Int32>(repeating: Int32(n - j)))
            acc.addProduct(loadA(j), dj)
            j += 16
        }
        let weighted = Vec16(repeating: acc.sum()), s = Vec16(repeating: scale)
        j = 0
        while j < n { store16(loadA(j) * (load16(d + j) - weighted) * s, d + j); j += 16 }
    }

    /// dst: [columns, ld] ← src: [rows, columns] with row stride `stride` (columns past `rows` zeroed).
    @inline(__always)
    static func transpose(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, columns: Int,
                          stride: Int, ld: Int) {
        for r in 0..<rows {
            let s = src + r * stride
            for d in 0..<columns { dst[d * ld + r] = s[d] }
        }
        if ld > rows { for d in 0..<columns { (dst + d * ld + rows).update(repeating: 0, count: ld - rows) } }
    }

    /// out[0..<n] = scale · Σ_d x[d] · m[d, 0..<n]; m: [k, ld] with ld ≥ n rounded up to 16.
    /// Sixty-four positions at a time, so four FMA chains run side by side.
    @inline(__always)
    static func rowTimesMatrix(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ m: UnsafePointer<Float>,
                               k: Int, n: Int, ld: Int, scale: Float) {
        var j = 0
        while j + 64 <= n {
            var a0 = Vec16(), a1 = Vec16(), a2 = Vec16(), a3 = Vec16()
            for d in 0..<k {
                let xd = Vec16(repeating: x[d]), row = m + d * ld + j
                a0.addProduct(xd, load16(row)); a1.addProduct(xd, load16(row + 16))
                a2.addProduct(xd, load16(row + 32)); a3.addProduct(xd, load16(row + 48))
            }
            store16(a0 * scale, out + j); store16(a1 * scale, out + j + 16)
            store16(a2 * scale, out + j + 32); store16(a3 * scale, out + j + 48)
            j += 64
        }
        while j < n {
            var acc = Vec16()
            for d in 0..<k { acc.addProduct(Vec16(repeating: x[d]), load16(m + d * ld + j)) }
            if j + 16 <= n { store16(acc * scale, out + j) } else { storePartial(acc * scale, out + j, n - j) }
            j += 16
        }
    }

    /// x[0..<n] ← softmax(x[0..<n]) and x[n..<width] ← 0 (a causal row of width T with n scores).
    /// Whole vectors of the row are read and written with the lanes past n masked, so no element
    /// is touched one at a time except in a last partial vector of the row (T not a multiple of 16).
    @inline(__always)
    static func softmaxRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ width: Int) {
        let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        @inline(__always) func load(_ j: Int, fill: Float) -> Vec16 {
            let v = j + 16 <= width ? load16(x + j) : loadPartial(x + j, width - j, fill: fill)
            return v.replacing(with: fill, where: lanes .>= SIMD16<Int32>(repeating: Int32(n - j)))
        }
        @inline(__always) func store(_ v: Vec16, _ j: Int) {
            if j + 16 <= width { store16(v, x + j) } else { storePartial(v, x + j, width - j) }
        }
        var mv = Vec16(repeating: -.infinity)
        var j = 0
        while j < n { mv = pointwiseMax(mv, load(j, fill: -.infinity)); j += 16 }
        let mb = Vec16(repeating: mv.max())
        var acc = Vec16()
        j = 0
        while j < n { let e = vexp(load(j, fill: -.infinity) - mb); store(e, j); acc += e; j += 16 }
        let inv = Vec16(repeating: 1 / acc.sum())
        j = 0
        while j < n { store(load16Or(x, j, width) * inv, j); j += 16 }
        while j < width { store(Vec16(), j); j += 16 }
    }

    /// The vector at x + j of a row of `width` floats (lanes past the row read as 0).
    @inline(__always)
    static func load16Or(_ x: UnsafeMutablePointer<Float>, _ j: Int, _ width: Int) -> Vec16 {
        j + 16 <= width ? load16(x + j) : loadPartial(x + j, width - j)
    }

    /// x[0..<n] ← softmax(x[0..<n]).
    @inline(__always)
    static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let mb = Vec16(repeating: maximum(x, n))
        var acc = Vec16()
        var j = 0
        while j + 16 <= n { let e = vexp(load16(x + j) - mb); store16(e, x + j); acc += e; j += 16 }
        if j < n {
            let e = vexp(loadPartial(x + j, n - j, fill: -.infinity) - mb)
            storePartial(e, x + j, n - j); acc += e
        }
        let inv = Vec16(repeating: 1 / acc.sum())
        j = 0
        while j + 16 <= n { store16(load16(x + j) * inv, x + j); j += 16 }
        while j < n { x[j] *= inv[0]; j += 1 }
    }

    /// The specification in Double. Returns out: [B, T, C].
    public static func forwardReference(qkv: [Double], batch: Int, seq t: Int, channels c: Int, heads: Int,
                                        dropout p: Float = 0, key: UInt64 = 0) -> [Double] {
        let hs = c / heads
        let threshold = Dropout.threshold(p)
        var out = [Double](repeating: 0, count: batch * t * c)
        for b in 0..<batch {
            for h in 0..<heads {
                func at(_ i: Int, _ part: Int, _ d: Int) -> Double { qkv[(b * t + i) * 3 * c + part * c + h * hs + d] }
                for i in 0..<t {
                    var scores = (0...i).map { j in (0..<hs).reduce(0.0) { $0 + at(i, 0, $1) * at(j, 1, $1) } / Double(hs).squareRoot() }
                    let m = scores.max()!
                    scores = scores.map { exp($0 - m) }
                    let total = scores.reduce(0, +)
                    let bh = b * heads + h
                    let mask = (0...i).map { j in
                        p == 0 || Dropout.keeps(key: key, index: (bh * t + i) * t + j, threshold: threshold) ? 1 / (1 - Double(p)) : 0
                    }
                    for d in 0..<hs {
                        out[(b * t + i) * c + h * hs + d] = (0...i).reduce(0.0) { $0 + scores[$1] / total * mask[$1] * at($1, 2, d) }
                    }
                }
            }
        }
        return out
    }
}

/// x · y over n floats.
@inline(__always)
func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec16()
    var i = 0
    while i + 16 <= n { acc.addProduct(load16(x + i), load16(y + i)); i += 16 }
    var s = acc.sum()
    while i < n { s += x[i] * y[i]; i += 1 }
    return s
}

@inline(__always)
func dot(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    dot(UnsafePointer(x), y, n)
}

/// y += a · x over n floats.
@inline(__always)
func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    let av = Vec16(repeating: a)
    var i = 0
    while i + 16 <= n { store16(load16(y + i) + av * load16(x + i), y + i); i += 16 }
    while i < n { y[i] += a * x[i]; i += 1 }
}

@inline(__always)
func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafeMutablePointer<Float>, _ n: Int) {
    axpy(y, a, UnsafePointer(x), n)
}
