// Inverted dropout (as torch.nn.Dropout): keep each element with probability
// 1 − p and scale the kept ones by 1/(1 − p). The mask is not stored: element i's
// fate is a hash of (key, i), so the backward pass, any thread split and a resumed
// run all see the same mask for the same key.

public enum Dropout {
    /// out: [N], inp: [N] (may alias out)
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
                               probability p: Float, key: UInt64, pool: ThreadPool) {
        apply(out, inp, count, p, key, pool)
    }

    /// dinp: [N] (=, may alias dout), dout: [N]; the same key as the forward pass.
    public static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, count: Int,
                                probability p: Float, key: UInt64, pool: ThreadPool) {
        apply(dinp, dout, count, p, key, pool)
    }

    static func apply(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ count: Int,
                      _ p: Float, _ key: UInt64, _ pool: ThreadPool) {
        let scale = 1 / (1 - p)
        let threshold = threshold(p)
        pool.parallelFor(count, granule: 1024) { range in
            for i in range { out[i] = keeps(key: key, index: i, threshold: threshold) ? inp[i] * scale : 0 }
        }
    }

    /// Elements whose 32-bit hash is below this are dropped.
    @inline(__always)
    public static func threshold(_ p: Float) -> UInt32 {
        UInt32(min(Double(UInt32.max), (Double(p) * 4_294_967_296).rounded()))
    }

    @inline(__always)
    public static func keeps(key: UInt64, index: Int, threshold: UInt32) -> Bool {
        mix(UInt32(truncatingIfNeeded: index) &* 0x9E37_79B9 ^ UInt32(truncatingIfNeeded: key),
            UInt32(truncatingIfNeeded: key >> 32)) >= threshold
    }

    /// Two rounds of a 32-bit avalanche mix (Wellons' lowbias32), keyed between them.
    @inline(__always)
    static func mix(_ x: UInt32, _ salt: UInt32) -> UInt32 {
        var h = lowbias(x)
        h ^= salt
        return lowbias(h)
    }

    @inline(__always)
    static func lowbias(_ x: UInt32) -> UInt32 {
        var h = x
        h ^= h >> 16; h = h &* 0x7FEB_352D
        h ^= h >> 15; h = h &* 0x846C_A68B
        h ^= h >> 16
        return h
    }

    /// A key for one dropout site in one pass, so different sites and steps draw independent masks.
    public static func key(seed: UInt64, pass: UInt64, site: UInt64) -> UInt64 {
        var g = SplitMix64(seed: seed ^ (pass &* 0xD1B5_4A32_D192_ED03) ^ (site &* 0x8CB9_2BA7_2F3D_8DD7))
        return g.next()
    }
}
