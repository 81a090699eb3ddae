// A fully connected layer in GPT-2's Conv1D layout (weight stored [in, out], as
// Hugging Face's checkpoints hold it): out = inp · weight + bias.

public enum Linear {
    /// out: [N, OC], inp: [N, C], weight: [C, OC], bias: [OC] or nil
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               rows n: Int, inChannels c: Int, outChannels oc: Int, pool: ThreadPool) {
        if let bias {
            pool.parallelFor(n) { range in
                for row in range { (out + row * oc).update(from: bias, count: oc) }
            }
        }
        GEMM.multiply(out, ldc: oc, inp, lda: c, .normal, weight, ldb: oc, .normal,
                      m: n, n: oc, k: c, accumulate: bias != nil, pool: pool)
    }

    /// dinp: [N, C] (= or += when `accumulateInput`), dweight: [C, OC] (+=), dbias: [OC] (+=) or nil,
    /// dout: [N, OC], inp: [N, C], weight: [C, OC]
    public static func backward(dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                                inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rows n: Int, inChannels c: Int, outChannels oc: Int,
                                accumulateInput: Bool, pool: ThreadPool) {
        // dinp[N, C] = dout[N, OC] · weight[C, OC]ᵀ
        GEMM.multiply(dinp, ldc: c, dout, lda: oc, .normal, weight, ldb: oc, .transposed,
                      m: n, n: c, k: oc, accumulate: accumulateInput, pool: pool)
        // dweight[C, OC] += inp[N, C]ᵀ · dout[N, OC]
        GEMM.multiply(dweight, ldc: oc, inp, lda: c, .transposed, dout, ldb: oc, .normal,
                      m: c, n: oc, k: n, accumulate: true, pool: pool)
        if let dbias { columnSums(into: dbias, dout, rows: n, columns: oc, pool: pool) }
    }

    /// into: [OC] += Σ_rows x[row, :], x: [N, OC]; split by columns, so each sum has one owner.
    public static func columnSums(into sums: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                  rows n: Int, columns oc: Int, pool: ThreadPool) {
        pool.parallelFor(oc, granule: 16) { cols in
            var j = cols.lowerBound
            while j + 16 <= cols.upperBound {
                var acc = Vec16()
                for row in 0..<n { acc += load16(x + row * oc + j) }
                store16(load16(sums + j) + acc, sums + j)
                j += 16
            }
            while j < cols.upperBound {
                var s: Float = 0
                for row in 0..<n { s += x[row * oc + j] }
                sums[j] += s
                j += 1
            }
        }
    }
}
