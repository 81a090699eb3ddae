// Causal multi-head self-attention on packed q, k, v (the output of c_attn):
// for each head, att = softmax(q·kᵀ/√hs with the future masked), y = att · v.
// The forward pass keeps the attention probabilities (B·NH·T² floats: O(T²) per
// head) for the backward pass; attention dropout, when on, is re-derived from its key.
import Foundation

public enum Attention {
    /// out: [B, T, C], att: [B, NH, T, T], qkv: [B, T, 3C] (q, k, v each split into NH heads of C/NH)
    public static func forward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
                               qkv: UnsafePointer<Float>, batch: Int, seq t: Int, channels c: Int, heads: Int,
                               dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range in
            for bh in range {
                let b = bh / heads, h = bh % heads
                let base = qkv + b * t * c3 + h * hs
                for i in 0..<t {
                    let q = base + i * c3
                    let row = att + (bh * t + i) * t
                    var maxScore = -Float.infinity
                    for j in 0...i {
                        let s = dot(q, base + j * c3 + c, hs) * scale
                        row[j] = s
                        maxScore = max(maxScore, s)
                    }
                    var total: Float = 0
                    for j in 0...i { let e = expf(row[j] - maxScore); row[j] = e; total += e }
                    let inv = 1 / total
                    for j in 0...i { row[j] *= inv }
                    for j in (i + 1)..<max(i + 1, t) { row[j] = 0 }
                    let y = out + (b * t + i) * c + h * hs
                    y.update(repeating: 0, count: hs)
                    for j in 0...i {
                        var a = row[j]
                        if p > 0 {
                            a = Dropout.keeps(key: key, index: (bh * t + i) * t + j, threshold: threshold) ? a * keepScale : 0
                        }
                        axpy(y, a, base + j * c3 + 2 * c, hs)
                    }
                }
            }
        }
    }

    /// dqkv: [B, T, 3C] (=), dout: [B, T, C], att: [B, NH, T, T], qkv: [B, T, 3C],
    /// scratch: [threads, T]
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                att: UnsafePointer<Float>, qkv: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                batch: Int, seq t: Int, channels c: Int, heads: Int,
                                dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads, c3 = 3 * c
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range, worker in
            let datt = scratch + worker * t
            for bh in range {
                let b = bh / heads, h = bh % heads
                let base = qkv + b * t * c3 + h * hs
                let dbase = dqkv + b * t * c3 + h * hs
                for i in 0..<t {
                    for part in 0..<3 { (dbase + i * c3 + part * c).update(repeating: 0, count: hs) }
                }
                for i in 0..<t {
                    let row = att + (bh * t + i) * t
                    let dy = dout + (b * t + i) * c + h * hs
                    // datt[j] = dy · v_j, through the dropout mask; dv_j += att'[i, j] · dy.
                    var weighted: Float = 0
                    for j in 0...i {
                        var m: Float = 1
                        if p > 0 {
                            m = Dropout.keeps(key: key, index: (bh * t + i) * t + j, threshold: threshold) ? keepScale : 0
                        }
                        datt[j] = dot(dy, base + j * c3 + 2 * c, hs) * m
                        axpy(dbase + j * c3 + 2 * c, row[j] * m, dy, hs)
                        weighted += row[j] * datt[j]
                    }
                    // Softmax backward, then through the scaled dot products.
                    let dq = dbase + i * c3
                    let q = base + i * c3
                    for j in 0...i {
                        let dpre = row[j] * (datt[j] - weighted) * scale
                        axpy(dq, dpre, base + j * c3 + c, hs)
                        axpy(dbase + j * c3 + c, dpre, q, hs)
                    }
                }
            }
        }
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
