// Usage (holding the build lock): swiftc -Ounchecked -Xcc -march=native Benchmarks/q8_dot_probe.swift -o /tmp/q8probe && /tmp/q8probe
// Experiment (issue 15): q8_0 decode, M = 1 and M = 4, panel layout of WeightMatrix (32 outputs, bytes
// biased +128, steps p and p+1 in one 64-byte line). (a) widen to float and multiply by the scale per
// weight, FMA into fp32 accumulators (what WeightMatrixGEMM does); (b) ggml-style integer dot: the
// activations quantized to int8 per 32-block, int32 multiply-accumulate per block (vpmulld), then one
// conversion and one FMA by d_w · d_a per block.
import Foundation
typealias Vec16 = SIMD16<Float>
typealias I16 = SIMD16<Int32>
let K = 768, N = 768 * 4 * 12 * 3  // ~85M weights: streams from memory like a whole GPT-2 token
let panels = N / 32, blocks = K / 32
let vals = UnsafeMutableRawPointer.allocate(byteCount: N * K, alignment: 64)
let scales = UnsafeMutablePointer<Float>.allocate(capacity: N * blocks)
var s: UInt64 = 1
for i in 0..<(N * K) { s = s &* 6364136223846793005 &+ 1442695040888963407; vals.storeBytes(of: UInt8(truncatingIfNeeded: s >> 33), toByteOffset: i, as: UInt8.self) }
for i in 0..<(N * blocks) { scales[i] = Float(i % 7 + 1) * 1e-3 }
let out = UnsafeMutablePointer<Float>.allocate(capacity: 4 * N)
let a = UnsafeMutablePointer<Float>.allocate(capacity: 4 * K)
for i in 0..<(4 * K) { a[i] = Float(i % 13) * 0.1 - 0.6 }
// quantized activations
let aq = UnsafeMutablePointer<Int32>.allocate(capacity: 4 * K)
let ad = UnsafeMutablePointer<Float>.allocate(capacity: 4 * blocks)

@inline(__always) func lanes(_ off: Int) -> SIMD16<UInt32> { vals.load(fromByteOffset: off, as: SIMD16<UInt32>.self) }
@inline(__always) func fw(_ u: SIMD16<UInt32>, _ d: Vec16) -> Vec16 { (unsafeBitCast(u | 0x4B00_0000, to: Vec16.self) - 8_388_736) * d }
@inline(__always) func iw(_ u: SIMD16<UInt32>) -> I16 { unsafeBitCast(u, to: I16.self) &- 128 }

@inline(never) func floatPath(_ m: Int) {
    for q in 0..<panels {
        var c0 = Vec16(), c1 = Vec16(), r0 = Vec16(), r1 = Vec16(), t0 = Vec16(), t1 = Vec16(), u0 = Vec16(), u1 = Vec16()
        var p = 0
        while p < K {
            let v = lanes((q * K + p) * 32)
            let sp = scales + (q * blocks + p / 32) * 32
            let d0 = UnsafeRawPointer(sp).load(as: Vec16.self), d1 = UnsafeRawPointer(sp + 16).load(as: Vec16.self)
            let b0 = fw(v & 0xFF, d0), b1 = fw((v &>> 8) & 0xFF, d1), b2 = fw((v &>> 16) & 0xFF, d0), b3 = fw(v &>> 24, d1)
            var av = Vec16(repeating: a[p]); c0.addProduct(av, b0); c1.addProduct(av, b1)
            av = Vec16(repeating: a[p + 1]); c0.addProduct(av, b2); c1.addProduct(av, b3)
            if m > 1 {
                av = Vec16(repeating: a[K + p]); r0.addProduct(av, b0); r1.addProduct(av, b1)
                av = Vec16(repeating: a[K + p + 1]); r0.addProduct(av, b2); r1.addProduct(av, b3)
                av = Vec16(repeating: a[2 * K + p]); t0.addProduct(av, b0); t1.addProduct(av, b1)
                av = Vec16(repeating: a[2 * K + p + 1]); t0.addProduct(av, b2); t1.addProduct(av, b3)
                av = Vec16(repeating: a[3 * K + p]); u0.addProduct(av, b0); u1.addProduct(av, b1)
                av = Vec16(repeating: a[3 * K + p + 1]); u0.addProduct(av, b2); u1.addProduct(av, b3)
            }
            p += 2
        }
        UnsafeMutableRawPointer(out + q * 32).storeBytes(of: c0 + r0 + t0 + u0, as: Vec16.self)
        UnsafeMutableRawPointer(out + q * 32 + 16).storeBytes(of: c1 + r1 + t1 + u1, as: Vec16.self)
    }
}

@inline(never) func intPath(_ m: Int) {
    // quantize activations (counted in the time)
    for r in 0..<m { for b in 0..<blocks {
        var mx: Float = 0; for i in 0..<32 { mx = max(mx, abs(a[r * K + b * 32 + i])) }
        let d = mx / 127; ad[r * blocks + b] = d
        for i in 0..<32 { aq[r * K + b * 32 + i] = d == 0 ? 0 : Int32((a[r * K + b * 32 + i] / d).rounded()) }
    } }
    for q in 0..<panels {
        var c0 = Vec16(), c1 = Vec16(), r0 = Vec16(), r1 = Vec16(), t0 = Vec16(), t1 = Vec16(), u0 = Vec16(), u1 = Vec16()
        for b in 0..<blocks {
            var i0 = I16(), i1 = I16(), j0 = I16(), j1 = I16(), k0 = I16(), k1 = I16(), l0 = I16(), l1 = I16()
            var p = b * 32
            while p < b * 32 + 32 {
                let v = lanes((q * K + p) * 32)
                let w0 = iw(v & 0xFF), w1 = iw((v &>> 8) & 0xFF), w2 = iw((v &>> 16) & 0xFF), w3 = iw(v &>> 24)
                var x = I16(repeating: aq[p]); i0 &+= x &* w0; i1 &+= x &* w1
                x = I16(repeating: aq[p + 1]); i0 &+= x &* w2; i1 &+= x &* w3
                if m > 1 {
                    x = I16(repeating: aq[K + p]); j0 &+= x &* w0; j1 &+= x &* w1
                    x = I16(repeating: aq[K + p + 1]); j0 &+= x &* w2; j1 &+= x &* w3
                    x = I16(repeating: aq[2 * K + p]); k0 &+= x &* w0; k1 &+= x &* w1
                    x = I16(repeating: aq[2 * K + p + 1]); k0 &+= x &* w2; k1 &+= x &* w3
                    x = I16(repeating: aq[3 * K + p]); l0 &+= x &* w0; l1 &+= x &* w1
                    x = I16(repeating: aq[3 * K + p + 1]); l0 &+= x &* w2; l1 &+= x &* w3
                }
                p += 2
            }
            let sp = scales + (q * blocks + b) * 32
            let d0 = UnsafeRawPointer(sp).load(as: Vec16.self), d1 = UnsafeRawPointer(sp + 16).load(as: Vec16.self)
            @inline(__always) func f(_ i: I16) -> Vec16 { unsafeBitCast(i &+ 0x4B40_0000, to: Vec16.self) - 12_582_912 }
            c0.addProduct(f(i0), d0 * ad[b]); c1.addProduct(f(i1), d1 * ad[b])
            if m > 1 {
                r0.addProduct(f(j0), d0 * ad[blocks + b]); r1.addProduct(f(j1), d1 * ad[blocks + b])
                t0.addProduct(f(k0), d0 * ad[2 * blocks + b]); t1.addProduct(f(k1), d1 * ad[2 * blocks + b])
                u0.addProduct(f(l0), d0 * ad[3 * blocks + b]); u1.addProduct(f(l1), d1 * ad[3 * blocks + b])
            }
        }
        UnsafeMutableRawPointer(out + q * 32).storeBytes(of: c0 + r0 + t0 + u0, as: Vec16.self)
        UnsafeMutableRawPointer(out + q * 32 + 16).storeBytes(of: c1 + r1 + t1 + u1, as: Vec16.self)
    }
}

func time(_ f: () -> Void) -> Double {
    var ts: [Double] = []
    for _ in 0..<9 { let t = DispatchTime.now().uptimeNanoseconds; f(); ts.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) }
    return ts.sorted()[4]
}
for m in [1, 4] {
    var fl: [Double] = [], it: [Double] = []
    for _ in 0..<3 { fl.append(time { floatPath(m) }); it.append(time { intPath(m) }) }
    print("M=\(m) float widening: median \(fl.sorted()[1]) ms   int32 dot: median \(it.sorted()[1]) ms  (one thread, \(N * K / 1_000_000)M weights, \(N * K * 33 / 32 / 1_000_000) MB)  ratio int/float \(it.sorted()[1] / fl.sorted()[1])")
}
