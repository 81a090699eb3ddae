// MaskedAttention (encoder, decoder and cross-attention with padding and causal masks) against
// its Double specification, its backward against central finite differences of that
// specification, and ScaledEmbedding against its formula. Operands are placed in rows wider
// than C (as the packed projections are), so a stride bug shows.
import XCTest
import GPTKernels

final class MaskedAttentionTests: XCTestCase {
    let pools = [try! ThreadPool(threads: 1), try! ThreadPool(threads: 2)]

    /// One problem: dense q [B, Tq, C], k and v [Bk, Tk, C], and the masks.
    struct Problem {
        var b: Int, tq: Int, tk: Int, c: Int, nh: Int
        var lengths: [Int]?, causal: Bool, keyBatch: [Int]? = nil, p: Float = 0
        var bk: Int { keyBatch.map { ($0.max() ?? 0) + 1 } ?? b }
    }

    /// Runs the kernel with q in rows of C + 3 floats and k, v packed in rows of 2C + 1 (k first).
    func forward(_ P: Problem, q: [Float], k: [Float], v: [Float], pool: ThreadPool) -> (out: [Float], att: [Float]) {
        let (c, ldq, ldkv) = (P.c, P.c + 3, 2 * P.c + 1)
        var qw = [Float](repeating: 9, count: P.b * P.tq * ldq), kv = [Float](repeating: 9, count: P.bk * P.tk * ldkv)
        for r in 0..<(P.b * P.tq) { for d in 0..<c { qw[r * ldq + d] = q[r * c + d] } }
        for r in 0..<(P.bk * P.tk) { for d in 0..<c { kv[r * ldkv + d] = k[r * c + d]; kv[r * ldkv + c + d] = v[r * c + d] } }
        var out = [Float](repeating: 7, count: P.b * P.tq * c), att = [Float](repeating: 7, count: P.b * P.nh * P.tq * P.tk)
        var scratch = [Float](repeating: 0, count: 2 * MaskedAttention.scratchPerWorker(keyLength: P.tk, headSize: c / P.nh))
        let lengths = P.lengths?.map(Int32.init), keyBatch = P.keyBatch?.map(Int32.init)
        kv.withUnsafeBufferPointer { kvp in
            MaskedAttention.forward(out: &out, ldo: c, att: &att, q: qw, ldq: ldq, k: kvp.baseAddress!, ldk: ldkv,
                                    v: kvp.baseAddress! + c, ldv: ldkv, keyLengths: lengths, keyBatch: keyBatch, causal: P.causal,
                                    scratch: &scratch, batch: P.b, queries: P.tq, keys: P.tk, channels: c, heads: P.nh,
                                    dropout: P.p, key: 41, pool: pool)
        }
        return (out, att)
    }

    /// The Double specification, with keys gathered per query row when rows share key rows.
    func reference(_ P: Problem, q: [Double], k: [Double], v: [Double]) -> [Double] {
        let c = P.c
        var kk = k, vv = v, lengths = P.lengths
        if let kb = P.keyBatch {
            kk = kb.flatMap { Array(k[($0 * P.tk * c)..<(($0 + 1) * P.tk * c)]) }
            vv = kb.flatMap { Array(v[($0 * P.tk * c)..<(($0 + 1) * P.tk * c)]) }
            lengths = lengths.map { l in kb.map { l[$0] } }
        }
        return MaskedAttention.forwardReference(q: q, k: kk, v: vv, keyLengths: lengths, causal: P.causal, batch: P.b,
                                                queries: P.tq, keys: P.tk, channels: c, heads: P.nh, dropout: P.p, key: 41)
    }

    static let problems: [Problem] = [
        Problem(b: 2, tq: 3, tk: 5, c: 6, nh: 2, lengths: [5, 2], causal: false),          // cross-attention, source padding
        Problem(b: 3, tq: 4, tk: 4, c: 12, nh: 3, lengths: [4, 1, 3], causal: true),       // decoder self-attention
        Problem(b: 2, tq: 7, tk: 7, c: 8, nh: 1, lengths: [7, 6], causal: false),          // encoder self-attention
        Problem(b: 1, tq: 1, tk: 1, c: 4, nh: 2, lengths: nil, causal: true),
        Problem(b: 2, tq: 5, tk: 33, c: 24, nh: 3, lengths: [33, 17], causal: false),
        Problem(b: 1, tq: 6, tk: 70, c: 128, nh: 2, lengths: [65], causal: false),         // 64-wide heads, keys past 64
        Problem(b: 4, tq: 1, tk: 9, c: 6, nh: 2, lengths: [9, 4], causal: false, keyBatch: [0, 0, 1, 1]),  // beams
        Problem(b: 2, tq: 5, tk: 6, c: 8, nh: 2, lengths: [6, 3], causal: false, p: 0.3),  // attention dropout
    ]

    func testForwardMatchesDoubleReferenceWithPaddingCausalMaskAndSharedKeys() {
        var rng = TestRandom(71)
        for pool in pools {
            for P in Self.problems {
                let q = rng.floats(P.b * P.tq * P.c, scale: 2), k = rng.floats(P.bk * P.tk * P.c, scale: 2)
                let v = rng.floats(P.bk * P.tk * P.c)
                let (out, att) = forward(P, q: q, k: k, v: v, pool: pool)
                assertClose(out, reference(P, q: q.doubles, k: k.doubles, v: v.doubles), tolerance: 2e-6, "out \(P)")
                // Masked weights are exactly zero and each visible row sums to 1.
                for b in 0..<P.b {
                    let length = P.lengths.map { $0[P.keyBatch?[b] ?? b] } ?? P.tk
                    for h in 0..<P.nh {
                        for i in 0..<P.tq {
                            let row = Array(att[(((b * P.nh + h) * P.tq + i) * P.tk)...].prefix(P.tk))
                            let visible = min(length, P.causal ? i + 1 : P.tk)
                            XCTAssertEqual(row[visible...].filter { $0 != 0 }.count, 0, "masked weights of \(P) b\(b) i\(i)")
                            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5, "softmax row of \(P) b\(b) i\(i)")
                        }
                    }
                }
            }
        }
    }

    func testBackwardMatchesFiniteDifferencesAcrossPaddedCrossAndCausalAttention() {
        var rng = TestRandom(72)
        for P in Self.problems where P.keyBatch == nil && P.tk <= 33 {
            let c = P.c, ldq = c + 5, ldkv = 2 * c + 3
            let q = rng.floats(P.b * P.tq * c), k = rng.floats(P.b * P.tk * c), v = rng.floats(P.b * P.tk * c)
            let dy = rng.floats(P.b * P.tq * c)
            let (_, att) = forward(P, q: q, k: k, v: v, pool: pools[1])
            // Gradients land in rows wider than C; the floats past C must stay untouched.
            var dq = [Float](repeating: 5, count: P.b * P.tq * ldq), dkv = [Float](repeating: 5, count: P.b * P.tk * ldkv)
            var scratch = [Float](repeating: 0, count: 2 * MaskedAttention.scratchPerWorker(keyLength: P.tk, headSize: c / P.nh))
            dkv.withUnsafeMutableBufferPointer { g in
                MaskedAttention.backward(dq: &dq, ldq: ldq, dk: g.baseAddress!, ldk: ldkv, dv: g.baseAddress! + c, ldv: ldkv,
                                         dout: dy, ldo: c, att: att, q: q, qStride: c, k: k, kStride: c, v: v, vStride: c,
                                         keyLengths: P.lengths?.map(Int32.init), causal: P.causal, scratch: &scratch,
                                         batch: P.b, queries: P.tq, keys: P.tk, channels: c, heads: P.nh,
                                         dropout: P.p, key: 41, pool: pools[1])
            }
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                zip(reference(P, q: q, k: k, v: v), dy).reduce(0) { $0 + $1.0 * Double($1.1) }
            }
            let (qd, kd, vd) = (q.doubles, k.doubles, v.doubles)
            let fq = finiteDifference(qd) { loss($0, kd, vd) }
            let fk = finiteDifference(kd) { loss(qd, $0, vd) }
            let fv = finiteDifference(vd) { loss(qd, kd, $0) }
            func dense(_ x: [Float], rows: Int, ld: Int, offset: Int) -> [Float] {
                (0..<rows).flatMap { r in x[(r * ld + offset)..<(r * ld + offset + c)] }
            }
            assertClose(dense(dq, rows: P.b * P.tq, ld: ldq, offset: 0), fq, tolerance: 2e-5, "dq \(P)")
            assertClose(dense(dkv, rows: P.b * P.tk, ld: ldkv, offset: 0), fk, tolerance: 2e-5, "dk \(P)")
            assertClose(dense(dkv, rows: P.b * P.tk, ld: ldkv, offset: c), fv, tolerance: 2e-5, "dv \(P)")
            XCTAssert((0..<(P.b * P.tq)).allSatisfy { r in dq[(r * ldq + c)..<((r + 1) * ldq)].allSatisfy { $0 == 5 } },
                      "dq wrote past C in \(P)")
            XCTAssert((0..<(P.b * P.tk)).allSatisfy { r in dkv[(r * ldkv + 2 * c)..<((r + 1) * ldkv)].allSatisfy { $0 == 5 } },
                      "dk/dv wrote past 2C in \(P)")
        }
    }

    /// A row whose keys are all padding (a source of length 0) gives zero weights, a zero output
    /// and zero gradients: finite, where PyTorch gives NaN.
    func testFullyMaskedQueryRowsGiveFiniteZeros() {
        var rng = TestRandom(73)
        let P = Problem(b: 2, tq: 3, tk: 4, c: 8, nh: 2, lengths: [0, 4], causal: false)
        let q = rng.floats(P.b * P.tq * P.c), k = rng.floats(P.b * P.tk * P.c), v = rng.floats(P.b * P.tk * P.c)
        let (out, att) = forward(P, q: q, k: k, v: v, pool: pools[1])
        XCTAssert(out.allSatisfy(\.isFinite) && att.allSatisfy(\.isFinite), "non-finite output")
        XCTAssertEqual(Array(out[0..<(P.tq * P.c)]), [Float](repeating: 0, count: P.tq * P.c), "fully masked rows' output")
        XCTAssertEqual(Array(att[0..<(P.nh * P.tq * P.tk)]), [Float](repeating: 0, count: P.nh * P.tq * P.tk), "their weights")
        XCTAssertNotEqual(Array(out[(P.tq * P.c)...]), [Float](repeating: 0, count: P.tq * P.c), "the other row attends")
        var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count)
        var dv = [Float](repeating: .nan, count: v.count)
        var scratch = [Float](repeating: 0, count: 2 * MaskedAttention.scratchPerWorker(keyLength: P.tk, headSize: P.c / P.nh))
        MaskedAttention.backward(dq: &dq, ldq: P.c, dk: &dk, ldk: P.c, dv: &dv, ldv: P.c, dout: rng.floats(q.count), ldo: P.c,
                                 att: att, q: q, qStride: P.c, k: k, kStride: P.c, v: v, vStride: P.c, keyLengths: [0, 4],
                                 causal: false, scratch: &scratch, batch: P.b, queries: P.tq, keys: P.tk, channels: P.c,
                                 heads: P.nh, pool: pools[1])
        XCTAssert(dq.allSatisfy(\.isFinite) && dk.allSatisfy(\.isFinite) && dv.allSatisfy(\.isFinite), "non-finite gradient")
        XCTAssertEqual(Array(dq[0..<(P.tq * P.c)]), [Float](repeating: 0, count: P.tq * P.c))
        XCTAssertEqual(Array(dk[0..<(P.tk * P.c)]), [Float](repeating: 0, count: P.tk * P.c))
    }

    func testScaledEmbeddingAddsScaledRowsToPositionsFromAnyStart() {
        var rng = TestRandom(74)
        let (b, t, c, v, first) = (2, 3, 20, 7, 4)
        let table = rng.floats(v * c), tokens: [Int32] = [6, 0, 3, 3, 1, 6]
        var pe = [Float](repeating: 0, count: (first + t) * c)
        Embedding.sinusoidalTable(&pe, positions: first + t, channels: c)
        var out = [Float](repeating: 0, count: b * t * c)
        ScaledEmbedding.forward(out: &out, tokens: tokens, table: table, scale: 2.5, positions: pe, first: first,
                                batch: b, seq: t, channels: c, pool: pools[1])
        let expected = (0..<(b * t * c)).map { i -> Double in
            let row = i / c, j = i % c
            return 2.5 * Double(table[Int(tokens[row]) * c + j]) + Double(pe[(first + row % t) * c + j])
        }
        assertClose(out, expected, tolerance: 1e-6, "scaled embedding")
        let dout = rng.floats(b * t * c)
        var dtable = [Float](repeating: 1, count: v * c)
        ScaledEmbedding.backward(dtable: &dtable, dout: dout, tokens: tokens, scale: 2.5, rows: b * t, channels: c, pool: pools[1])
        var want = [Double](repeating: 1, count: v * c)
        for row in 0..<(b * t) { for j in 0..<c { want[Int(tokens[row]) * c + j] += 2.5 * Double(dout[row * c + j]) } }
        assertClose(dtable, want, tolerance: 1e-6, "scaled embedding gradient")
    }
}
