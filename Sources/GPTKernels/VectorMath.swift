// SIMD building blocks shared by the kernels: 16-lane loads and stores at any
// address, and exp/tanh accurate to a few ulp (Swift's SIMD types have no
// transcendental functions, and calling libm per lane is ~20x slower).
public typealias Vec16 = SIMD16<Float>

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> Vec16 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec16.self)
}

@inline(__always)
func load16(_ p: UnsafeMutablePointer<Float>) -> Vec16 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec16.self)
}

@inline(__always)
func store16(_ v: Vec16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec16.self)
}

/// Loads `count` (< 16) floats, filling the other lanes with `fill`.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> Vec16 {
    var v = Vec16(repeating: fill)
    withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count * 4) }
    return v
}

@inline(__always)
func storePartial(_ v: Vec16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * 4) }
}

/// e^x per lane; relative error ≤ 2 ulp on [-87, 88]; 0 below, saturating above, NaN kept.
@inline(__always)
func vexp(_ x: Vec16) -> Vec16 {
    let log2e: Float = 1.442_695_04
    let ln2Hi: Float = 0.693_359_375, ln2Lo: Float = -2.121_944_4e-4
    let clamped = pointwiseMin(pointwiseMax(x, Vec16(repeating: -87.5)), Vec16(repeating: 88.5))
    let n = (clamped * log2e).rounded(.toNearestOrEven)
    var r = clamped - n * ln2Hi
    r = r - n * ln2Lo
    // exp(r) on |r| ≤ ln2/2: degree-6 polynomial (Cephes expf coefficients).
    var p = Vec16(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    // Scale by 2^n in two halves so that n = 128 or -127 does not overflow the exponent.
    // n is integral with |n| ≤ 128: adding 1.5·2²³ puts it in the low mantissa bits.
    let ni = unsafeBitCast(n + 12_582_912, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let half = ni &>> 1
    let s1 = unsafeBitCast((half &+ 127) &<< 23, to: Vec16.self)
    let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: Vec16.self)
    let result = p * s1 * s2
    return x.replacing(with: 0, where: x .< -87.5)
        .replacing(with: result, where: x .>= -87.5)
}

/// tanh(x) per lane, absolute error ≤ 1e-7.
@inline(__always)
func vtanh(_ x: Vec16) -> Vec16 {
    // tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|) never overflows.
    let ax = x.replacing(with: -x, where: x .< 0)
    let e = vexp(-2 * ax)
    let t = (1 - e) / (1 + e)
    return t.replacing(with: -t, where: x .< 0)
}

/// The largest of x[0..<n] (n ≥ 1).
@inline(__always)
func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var mv = Vec16(repeating: -.infinity)
    var i = 0
    while i + 16 <= n { mv = pointwiseMax(mv, load16(x + i)); i += 16 }
    var m = mv.max()
    while i < n { m = max(m, x[i]); i += 1 }
    return m
}
