// Token + position embedding, GPT-2's input layer: x[b, t] = wte[token[b, t]] + wpe[t].
// The position table is either learned (wpe) or the fixed sinusoids of
// "Attention Is All You Need" §3.5.
import Foundation

public enum Embedding {
    /// out: [B, T, C], tokens: [B, T], wte: [V, C], wpe: [≥T, C]
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>,
                               batch: Int, seq: Int, channels c: Int, pool: ThreadPool) {
        pool.parallelFor(batch * seq) { range in
            for row in range {
                let t = row % seq
                let e = wte + Int(tokens[row]) * c, p = wpe + t * c, o = out + row * c
                var i = 0
                while i + 16 <= c { store16(load16(e + i) + load16(p + i), o + i); i += 16 }
                while i < c { o[i] = e[i] + p[i]; i += 1 }
            }
        }
    }

    /// As above with the token table in a lower precision (inference): out: [B, T, C], wte: [V, C] as a
    /// `WeightMatrix`, wpe: [≥T, C]. Each row is widened exactly as the LM head reads it.
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               wte: WeightMatrix, wpe: UnsafePointer<Float>,
                               batch: Int, seq: Int, channels c: Int, pool: ThreadPool) {
        pool.parallelFor(batch * seq) { range in
            for row in range {
                let p = wpe + (row % seq) * c, o = out + row * c
                wte.widenRow(Int(tokens[row]), into: o)
                for i in 0..<c { o[i] += p[i] }
            }
        }
    }

    /// dwte: [V, C] (+=), dwpe: [≥T, C] (+=) or nil for fixed positions, dout: [B, T, C], tokens: [B, T].
    /// Split by channels: each sum has one owner and a fixed order, whatever the tokens.
    public static func backward(dwte: UnsafeMutablePointer<Float>, dwpe: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
                                batch: Int, seq: Int, channels c: Int, pool: ThreadPool) {
        pool.parallelFor(c, granule: 16) { cols in
            for row in 0..<(batch * seq) {
                let g = dout + row * c, e = dwte + Int(tokens[row]) * c
                for j in cols { e[j] += g[j] }
                if let dwpe {
                    let p = dwpe + (row % seq) * c
                    for j in cols { p[j] += g[j] }
                }
            }
        }
    }

    /// Sinusoidal positions: pe[t, 2i] = sin(t / 10000^(2i/C)), pe[t, 2i+1] = cos(…). pe: [T, C]
    public static func sinusoidalTable(_ pe: UnsafeMutablePointer<Float>, positions: Int, channels c: Int) {
        for t in 0..<positions {
            for i in stride(from: 0, to: c, by: 2) {
                let angle = Double(t) / pow(10_000, Double(i) / Double(c))
                pe[t * c + i] = Float(sin(angle))
                if i + 1 < c { pe[t * c + i + 1] = Float(cos(angle)) }
            }
        }
    }
}
