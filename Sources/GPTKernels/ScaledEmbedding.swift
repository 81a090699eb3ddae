// The input layer of "Attention Is All You Need" §3.4–3.5: x[b, t] = scale · E[token[b, t]]
// + pe[first + t], with scale = √d_model and pe the fixed sinusoids (Embedding.sinusoidalTable).
// GPT-2's Embedding adds a table without a scale and always starts at position 0; this one
// scales the token row and starts at `first`, so a decoder step embeds its token at the
// position it has reached.
import Foundation

public enum ScaledEmbedding {
    /// out: [B, T, C], tokens: [B, T], table: [V, C], positions: [≥ first + T, C]
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               table: UnsafePointer<Float>, scale: Float, positions: UnsafePointer<Float>, first: Int,
                               batch: Int, seq: Int, channels c: Int, pool: ThreadPool) {
        pool.parallelFor(batch * seq) { range in
            let s = Vec16(repeating: scale)
            for row in range {
                let e = table + Int(tokens[row]) * c, p = positions + (first + row % seq) * c, o = out + row * c
                var i = 0
                while i + 16 <= c { store16(load16(e + i) * s + load16(p + i), o + i); i += 16 }
                while i < c { o[i] = e[i] * scale + p[i]; i += 1 }
            }
        }
    }

    /// dtable: [V, C] (+=), dout: [B, T, C], tokens: [B, T]. Split by channels: each sum has one
    /// owner and a fixed order, whatever the tokens.
    public static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
                                scale: Float, rows: Int, channels c: Int, pool: ThreadPool) {
        pool.parallelFor(c, granule: 16) { cols in
            for row in 0..<rows {
                let g = dout + row * c, e = dtable + Int(tokens[row]) * c
                for j in cols { e[j] += scale * g[j] }
            }
        }
    }
}
