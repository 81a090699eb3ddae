// Multi-head scaled dot-product attention of Tq queries over Tk keys, with an optional
// causal mask and a key-padding mask, as torch.nn.MultiheadAttention computes it with
// `key_padding_mask` and a boolean upper-triangular `attn_mask`: the encoder's
// self-attention (source padding), the decoder's self-attention (causal and target
// padding) and cross-attention (source padding) of nn.Transformer.
//
// Batches are right-padded, so each mask keeps a prefix of the keys: query i of batch row
// b sees keys 0..<min(keyLengths[b], causal ? i + 1 : Tk). A query that sees no key (a
// source of length 0) gets zero weights and a zero output, never NaN (PyTorch returns NaN
// there). q, k and v are read with row strides, so packed projections ([B, T, 3C] of
// self-attention, [B, Tk, 2C] of cross-attention's keys and values) are used in place.
// With `keyBatch`, query row b reads keys and values of batch row keyBatch[b]: beams
// that share one source attend to its memory without copies of it.
//
// Keys (forward) and values (backward) are transposed per head into scratch, so a query's
// scores and an output gradient's dot products run sixteen keys per vector, as in
// Attention.swift, whose helpers this uses.
import Foundation

public enum MaskedAttention {
    /// Scratch floats one worker needs for `keyLength` keys and heads of `headSize`.
    public static func scratchPerWorker(keyLength: Int, headSize: Int) -> Int {
        (headSize + 1) * Attention.paddedLength(keyLength)
    }

    /// The number of keys query `i` of a row with `keyLength` valid keys sees.
    @inline(__always)
    static func visible(_ i: Int, keyLength: Int, keys tk: Int, causal: Bool) -> Int {
        max(0, min(keyLength, causal ? min(i + 1, tk) : tk))
    }

    /// out: [B, Tq, C] (row stride ldo), att: [B, NH, Tq, Tk] (saved softmax, zero where masked),
    /// q: [B, Tq, ·] (row stride ldq), k, v: [Bk, Tk, ·] (row strides ldk, ldv), each row's first C
    /// floats split into NH heads; keyLengths: [Bk] valid keys per row (nil: all Tk);
    /// keyBatch: [B] the key row of each query row (nil: b); scratch: [threads, scratchPerWorker].
    public static func forward(out: UnsafeMutablePointer<Float>, ldo: Int, att: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                               v: UnsafePointer<Float>, ldv: Int,
                               keyLengths: UnsafePointer<Int32>?, keyBatch: UnsafePointer<Int32>? = nil, causal: Bool,
                               scratch: UnsafeMutablePointer<Float>, batch: Int, queries tq: Int, keys tk: Int,
                               channels c: Int, heads: Int, dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range, worker in
            let tp = Attention.paddedLength(tk)
            let kT = scratch + worker * scratchPerWorker(keyLength: tk, headSize: hs)  // [hs, tp], then a row of tp
            for bh in range {
                let b = bh / heads, h = bh % heads
                let kb = keyBatch.map { Int($0[b]) } ?? b
                let length = keyLengths.map { Int($0[kb]) } ?? tk
                let kBase = k + kb * tk * ldk + h * hs, vBase = v + kb * tk * ldv + h * hs
                Attention.transpose(kT, kBase, rows: tk, columns: hs, stride: ldk, ld: tp)
                for i in 0..<tq {
                    let row = att + (bh * tq + i) * tk
                    let o = out + (b * tq + i) * ldo + h * hs
                    let n = visible(i, keyLength: length, keys: tk, causal: causal)
                    guard n > 0 else {
                        row.update(repeating: 0, count: tk)
                        o.update(repeating: 0, count: hs)
                        continue
                    }
                    // row[j] = q_i · k_j / √hs for the visible keys, then their softmax.
                    Attention.rowTimesMatrix(row, q + (b * tq + i) * ldq + h * hs, kT, k: hs, n: n, ld: tp, scale: scale)
                    Attention.softmaxInPlace(row, n)
                    if n < tk { (row + n).update(repeating: 0, count: tk - n) }
                    if p > 0 {
                        // The output mixes values with the dropped-out weights; row keeps the softmax.
                        let dropped = kT + hs * tp
                        for j in 0..<n {
                            let kept = Dropout.keeps(key: key, index: (bh * tq + i) * tk + j, threshold: threshold)
                            dropped[j] = kept ? row[j] * keepScale : 0
                        }
                        Attention.weightedSum(o, dropped, vBase, rows: n, stride: ldv, width: hs)
                    } else {
                        Attention.weightedSum(o, row, vBase, rows: n, stride: ldv, width: hs)
                    }
                }
            }
        }
    }

    /// dq: [B, Tq, ·] (=, row stride ldq), dk, dv: [B, Tk, ·] (=, strides ldk, ldv), each row's first C
    /// floats; dout: [B, Tq, C] (stride ldo); att, q, k, v, keyLengths as in `forward` (no keyBatch:
    /// training has one query row per key row). scratch: [threads, scratchPerWorker].
    public static func backward(dq: UnsafeMutablePointer<Float>, ldq: Int, dk: UnsafeMutablePointer<Float>, ldk: Int,
                                dv: UnsafeMutablePointer<Float>, ldv: Int, dout: UnsafePointer<Float>, ldo: Int,
                                att: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
                                k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int,
                                keyLengths: UnsafePointer<Int32>?, causal: Bool, scratch: UnsafeMutablePointer<Float>,
                                batch: Int, queries tq: Int, keys tk: Int, channels c: Int, heads: Int,
                                dropout p: Float = 0, key: UInt64 = 0, pool: ThreadPool) {
        let hs = c / heads
        let scale = 1 / Float(hs).squareRoot()
        let threshold = Dropout.threshold(p), keepScale = 1 / (1 - p)
        pool.parallelFor(batch * heads) { range, worker in
            let tp = Attention.paddedLength(tk)
            let vT = scratch + worker * scratchPerWorker(keyLength: tk, headSize: hs)  // [hs, tp]
            let datt = vT + hs * tp                                                     // [tp]
            for bh in range {
                let b = bh / heads, h = bh % heads
                let length = keyLengths.map { Int($0[b]) } ?? tk
                let kBase = k + b * tk * kStride + h * hs, vBase = v + b * tk * vStride + h * hs
                let dkBase = dk + b * tk * ldk + h * hs, dvBase = dv + b * tk * ldv + h * hs
                for j in 0..<tk {
                    (dkBase + j * ldk).update(repeating: 0, count: hs)
                    (dvBase + j * ldv).update(repeating: 0, count: hs)
                }
                Attention.transpose(vT, vBase, rows: tk, columns: hs, stride: vStride, ld: tp)
                for i in 0..<tq {
                    let dqRow = dq + (b * tq + i) * ldq + h * hs
                    let n = visible(i, keyLength: length, keys: tk, causal: causal)
                    guard n > 0 else { dqRow.update(repeating: 0, count: hs); continue }
                    let row = att + (bh * tq + i) * tk
                    let dy = dout + (b * tq + i) * ldo + h * hs
                    // datt[j] = dy · v_j, then through the dropout mask; dv_j += att'[i, j] · dy.
                    Attention.rowTimesMatrix(datt, dy, vT, k: hs, n: n, ld: tp, scale: 1)
                    var weighted: Float = 0
                    for j in 0..<n {
                        var m: Float = 1
                        if p > 0 {
                            m = Dropout.keeps(key: key, index: (bh * tq + i) * tk + j, threshold: threshold) ? keepScale : 0
                        }
                        datt[j] *= m
                        axpy(dvBase + j * ldv, row[j] * m, dy, hs)
                        weighted += row[j] * datt[j]
                    }
                    // Softmax backward, then through the scaled dot products.
                    let qi = q + (b * tq + i) * qStride + h * hs
                    for j in 0..<n {
                        let dpre = row[j] * (datt[j] - weighted) * scale
                        datt[j] = dpre
                        axpy(dkBase + j * ldk, dpre, qi, hs)
                    }
                    Attention.weightedSum(dqRow, datt, kBase, rows: n, stride: kStride, width: hs)
                }
            }
        }
    }

    /// The specification in Double. q: [B, Tq, C], k, v: [B, Tk, C] (dense); returns out: [B, Tq, C]
    /// (zero for a query that sees no key). Dropout drops the same weights as the kernels do.
    public static func forwardReference(q: [Double], k: [Double], v: [Double], keyLengths: [Int]?, causal: Bool,
                                        batch: Int, queries tq: Int, keys tk: Int, channels c: Int, heads: Int,
                                        dropout p: Float = 0, key: UInt64 = 0) -> [Double] {
        let hs = c / heads
        let threshold = Dropout.threshold(p)
        var out = [Double](repeating: 0, count: batch * tq * c)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tq {
                    let n = visible(i, keyLength: keyLengths?[b] ?? tk, keys: tk, causal: causal)
                    guard n > 0 else { continue }
                    var scores = (0..<n).map { j in
                        (0..<hs).reduce(0.0) { $0 + q[(b * tq + i) * c + h * hs + $1] * k[(b * tk + j) * c + h * hs + $1] }
                            / Double(hs).squareRoot()
                    }
                    let m = scores.max()!
                    scores = scores.map { exp($0 - m) }
                    let total = scores.reduce(0, +)
                    let mask = (0..<n).map { j -> Double in
                        p == 0 ? 1 : Dropout.keeps(key: key, index: ((b * heads + h) * tq + i) * tk + j, threshold: threshold)
                            ? 1 / (1 - Double(p)) : 0
                    }
                    for d in 0..<hs {
                        out[(b * tq + i) * c + h * hs + d] = (0..<n).reduce(0.0) {
                            $0 + scores[$1] / total * mask[$1] * v[(b * tk + $1) * c + h * hs + d]
                        }
                    }
                }
            }
        }
        return out
    }
}
