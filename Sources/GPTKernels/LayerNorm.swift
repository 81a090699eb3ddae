// Layer normalisation over the channel dimension, as torch.nn.LayerNorm:
// y = (x − mean) / sqrt(var + eps) · weight + bias, with the biased variance.
// The forward pass keeps mean and 1/std per row for the backward pass.

public enum LayerNorm {
    /// out: [N, C], mean: [N], rstd: [N], inp: [N, C], weight: [C], bias: [C] or nil
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, channels c: Int, eps: Float, pool: ThreadPool
    ) {
        pool.parallelFor(rows) { range in
            for row in range {
                let x = inp + row * c, y = out + row * c
                let mu = sum(x, c) / Float(c)
                var acc = Vec16()
                var i = 0
                while i + 16 <= c { let d = load16(x + i) - mu; acc.addProduct(d, d); i += 16 }
                var variance = acc.sum()
                while i < c { let d = x[i] - mu; variance += d * d; i += 1 }
                variance /= Float(c)
                let s = 1 / (variance + eps).squareRoot()
                i = 0
                while i + 16 <= c {
                    var v = (load16(x + i) - mu) * s * load16(weight + i)
                    if let bias { v += load16(bias + i) }
                    store16(v, y + i)
                    i += 16
                }
                while i < c { y[i] = (x[i] - mu) * s * weight[i] + (bias?[i] ?? 0); i += 1 }
                mean[row] = mu
                rstd[row] = s
            }
        }
    }

    /// dinp: [N, C] (+=), dweight: [C] (+=), dbias: [C] (+=) or nil,
    /// dout: [N, C], inp: [N, C], weight: [C], mean, rstd: [N]
    public static func backward(
        dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, channels c: Int, pool: ThreadPool
    ) {
        // dinp: per row, dx = rstd · (dnorm − mean(dnorm) − xhat · mean(dnorm · xhat)), dnorm = dy · w.
        pool.parallelFor(rows) { range in
            for row in range {
                let x = inp + row * c, dy = dout + row * c, dx = dinp + row * c
                let mu = mean[row], s = rstd[row]
                var accD = Vec16(), accDX = Vec16()
                var i = 0
                while i + 16 <= c {
                    let xhat = (load16(x + i) - mu) * s
                    let dn = load16(dy + i) * load16(weight + i)
                    accD += dn; accDX.addProduct(dn, xhat)
                    i += 16
                }
                var sumD = accD.sum(), sumDX = accDX.sum()
                while i < c { let xhat = (x[i] - mu) * s; let dn = dy[i] * weight[i]; sumD += dn; sumDX += dn * xhat; i += 1 }
                let meanD = sumD / Float(c), meanDX = sumDX / Float(c)
                i = 0
                while i + 16 <= c {
                    let xhat = (load16(x + i) - mu) * s
                    let dn = load16(dy + i) * load16(weight + i)
                    store16(load16(dx + i) + (dn - meanD - xhat * meanDX) * s, dx + i)
                    i += 16
                }
                while i < c {
                    let xhat = (x[i] - mu) * s
                    dx[i] += (dy[i] * weight[i] - meanD - xhat * meanDX) * s
                    i += 1
                }
            }
        }
        // dweight, dbias: column sums over rows, sixteen columns per register; split by columns so
        // each sum has one owner.
        pool.parallelFor(c, granule: 16) { cols in
            var j = cols.lowerBound
            while j < cols.upperBound {
                let lanes = min(16, cols.upperBound - j)
                var accW = Vec16(), accB = Vec16()
                for row in 0..<rows {
                    let x = inp + row * c + j, dy = dout + row * c + j
                    let g = lanes == 16 ? load16(dy) : loadPartial(dy, lanes)
                    let v = lanes == 16 ? load16(x) : loadPartial(x, lanes)
                    accW.addProduct(g, (v - mean[row]) * rstd[row])
                    accB += g
                }
                if lanes == 16 {
                    store16(load16(dweight + j) + accW, dweight + j)
                    if let dbias { store16(load16(dbias + j) + accB, dbias + j) }
                } else {
                    storePartial(loadPartial(dweight + j, lanes) + accW, dweight + j, lanes)
                    if let dbias { storePartial(loadPartial(dbias + j, lanes) + accB, dbias + j, lanes) }
                }
                j += 16
            }
        }
    }

    /// The specification in Double: returns out, mean, rstd.
    public static func forwardReference(inp: [Double], weight: [Double], bias: [Double]?, rows: Int, channels c: Int,
                                        eps: Double) -> (out: [Double], mean: [Double], rstd: [Double]) {
        var out = [Double](repeating: 0, count: rows * c), means = [Double](), rstds = [Double]()
        for r in 0..<rows {
            let x = inp[(r * c)..<(r * c + c)]
            let mu = x.reduce(0, +) / Double(c)
            let variance = x.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(c)
            let s = 1 / (variance + eps).squareRoot()
            for j in 0..<c { out[r * c + j] = (inp[r * c + j] - mu) * s * weight[j] + (bias?[j] ?? 0) }
            means.append(mu); rstds.append(s)
        }
        return (out, means, rstds)
    }
}

/// Sum of `count` floats: 16 lanes, then the tail, in a fixed order.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = Vec16()
    var i = 0
    while i + 16 <= count { acc += load16(x + i); i += 16 }
    var s = acc.sum()
    while i < count { s += x[i]; i += 1 }
    return s
}
