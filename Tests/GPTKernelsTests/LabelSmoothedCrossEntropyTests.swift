// LabelSmoothedCrossEntropy against numbers recorded from PyTorch
// (Tests/scripts/label_smoothed_cross_entropy_reference.py, torch 2.13.0+cpu), against its
// Double reference, and its backward against finite differences of that reference.
import XCTest
import GPTKernels

final class LabelSmoothedCrossEntropyTests: XCTestCase {
    let pools = [try! ThreadPool(threads: 1), try! ThreadPool(threads: 2)]

    /// (name, N, V, ε, ignore_index, targets, mean loss, d(mean loss)/dlogits) from F.cross_entropy.
    static let torchCases: [(String, Int, Int, Float, Int32, [Int32], Float, [Float])] = [
        ("n6v7", 6, 7, 0.1, 0, [3, 0, 6, 1, 0, 2], 2.04161787, [0.0122593604, 0.093895115, 0.0977290124, -0.19803983, 0.000823524606, -0.00315633952, -0.00351081695, 0, 0, 0, 0, 0, 0, 0, -0.00332553522, -0.00351221417, -0.00352103333, -0.00327934301, 0.00330794905, 0.0949039534, -0.0845737904, 0.181867614, -0.216859967, -0.00211289851, -0.00299183978, -0.00285430602, -0.000351882161, 0.0433033071, 0, 0, 0, 0, 0, 0, 0, -0.00298196124, 0.00197803741, -0.17532821, 0.144643024, 0.0369777679, -0.00180789095, -0.00348072895]),
        ("n5v33", 5, 33, 0.2, 1, [32, 1, 0, 17, 5], 5.58662605, [0.00134849222, 0.0161156524, 0.0168091711, 0.00400773622, -0.000720145006, -0.00144006568, -0.00150418736, -0.00150547118, -0.00142497476, 0.00104477373, 0.0236506071, 0.0241822526, 0.00307908421, -0.00102633517, -0.00145006855, -0.00149947859, -0.00150181283, -0.00143784238, 0.00030567986, 0.0245492738, 0.0365980901, 0.0039059883, -0.00117277773, -0.00147251273, -0.00149820768, -0.00149418705, -0.00142103096, -0.000144811231, 0.0180699285, 0.0434389003, 0.0062762918, -0.00118029863, -0.201487735, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.196545556, -0.00086682674, -0.00145448581, -0.00150423741, -0.00150074635, -0.00133012375, 0.00358317746, 0.0339659229, 0.0235604141, 0.0022705656, -0.00111044722, -0.00145725184, -0.0014988872, -0.00149657473, -0.00136730436, 0.00222555804, 0.0384543538, 0.0359352715, 0.00257563451, -0.00124788936, -0.00147499971, -0.0014958242, -0.00148590899, -0.00135017396, 0.00117391301, 0.0303606521, 0.0458922647, 0.00419402681, -0.00127652194, -0.00148981437, -0.00149898743, -0.00147318456, -0.00126597704, 0.00113531505, 0.0213487949, 0.0436564237, 0.00679670786, -0.00119876093, -0.00149444223, -0.00150371017, -0.00146859791, -0.00109114277, 0.0019725475, 0.0160286836, 0.0290211774, 0.00708564976, -0.00106494175, -0.00149252801, -0.00150708493, -0.00147984945, -0.200974181, 0.0040801838, 0.017256882, 0.0186919253, 0.0047878488, -0.000971325091, -0.00148317707, -0.00150745572, -0.00149079796, -0.00102985254, 0.00665921019, 0.0256405361, 0.0157216005, 0.0023943875, -0.00104930112, -0.00147071818, -0.00150745851, -0.00149981712, -0.00125575555, 0.00498225028, 0.0296489857, -0.185893625, 0.000550767872, -0.00128947792, -0.00148014957, -0.00150342728, -0.00149684283, -0.0013194615, 0.00348566147, 0.036488723, 0.0215200949, 0.000517843757, -0.00137215666, -0.00148904836, -0.00149996486, -0.00148686511, -0.0013156113, 0.00198013266, 0.0310300086, 0.0294109322, 0.00119148172, -0.00139822741, -0.0014986553, -0.00150118733, -0.00147217035, -0.00123082986, 0.00145614613, 0.0206180364, 0.0286296625]),
        ("n3v20", 3, 20, 0.0, -100, [4, -100, 19], 6.42927647, [0.0108565688, 0.0668414012, 0.069470644, 0.0209382121, -0.496986002, 0.000284663256, 4.15668037e-05, 3.6699581e-05, 0.000341875188, 0.00970511418, 0.0954076946, 0.0974232629, 0.0174175333, 0.00185318734, 0.000246740761, 5.94186058e-05, 5.05690223e-05, 0.000293092133, 0.00690308306, 0.0988146961, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.00246944395, 0.000127004838, 4.71567764e-05, 0.000147594124, 0.00127505697, 0.0110367881, 0.0619688071, 0.136637479, 0.0538853295, 0.00346042216, 0.000149934553, 3.49950133e-05, 0.000105614839, 0.00148875406, 0.0178599395, 0.0730398297, 0.0950818211, 0.037106365, 0.00386166316, -0.499784023]),
    ]

    /// The script's logits: 4·sin(0.7·i + 0.3) + 0.5·cos(1.3·i) in Double, rounded to Float.
    static func logits(_ count: Int) -> [Float] {
        (0..<count).map { index -> Float in
            let i = Double(index)
            let a: Double = 4 * sin(0.7 * i + 0.3), b: Double = 0.5 * cos(1.3 * i)
            return Float(a + b)
        }
    }

    func testMeanLossAndGradientMatchPyTorchLabelSmoothingWithIgnoreIndex() {
        for pool in pools {
            for (name, n, v, epsilon, pad, targets, torchLoss, torchGrad) in Self.torchCases {
                let logits = Self.logits(n * v)
                var losses = [Float](repeating: .nan, count: n)
                let count = LabelSmoothedCrossEntropy.forward(losses: &losses, logits: logits, targets: targets, rows: n, vocab: v,
                                                              smoothing: epsilon, ignoreIndex: pad, pool: pool)
                XCTAssertEqual(count, targets.filter { $0 >= 0 && $0 != pad }.count, name)
                let mean = losses.reduce(0, +) / Float(count)
                // float32 on both sides: a few ulps of a loss of 2…7.
                XCTAssertEqual(mean, torchLoss, accuracy: 4e-6 * max(1, abs(torchLoss)), "\(name): loss vs PyTorch")
                var grad = [Float](repeating: .nan, count: n * v)
                LabelSmoothedCrossEntropy.backward(dlogits: &grad, logits: logits, targets: targets, rows: n, vocab: v,
                                                   smoothing: epsilon, ignoreIndex: pad, dloss: 1 / Float(count), pool: pool)
                assertClose(grad, torchGrad.doubles, tolerance: 1e-7, "\(name): dlogits vs PyTorch")
            }
        }
    }

    func testMatchesDoubleReferenceAndFiniteDifferencesOnOddSizes() {
        var rng = TestRandom(171)
        for pool in pools {
            for (n, v, epsilon) in [(1, 1, Float(0.1)), (3, 17, 0.1), (5, 65, 0.3), (4, 767, 0.1), (2, 50257, 0.1), (7, 33, 0)] {
                let logits = rng.floats(n * v, scale: 8)
                var targets = (0..<n).map { _ in Int32(rng.int(below: v)) }
                let pad: Int32 = v > 2 ? 2 : -100
                if n > 2 { targets[1] = pad; targets[n - 1] = -1 }  // padding, and a negative target: both ignored
                var losses = [Float](repeating: .nan, count: n)
                LabelSmoothedCrossEntropy.forward(losses: &losses, logits: logits, targets: targets, rows: n, vocab: v,
                                                  smoothing: epsilon, ignoreIndex: pad, pool: pool)
                let reference = LabelSmoothedCrossEntropy.forwardReference(logits: logits.doubles, targets: targets.map(Int.init), vocab: v,
                                                                           smoothing: Double(epsilon), ignoreIndex: Int(pad))
                assertClose(losses, reference, tolerance: 2e-6, "label-smoothed cross-entropy \(n)x\(v) ε \(epsilon)")
                guard n * v < 4000 else { continue }
                var d = logits
                d.withUnsafeMutableBufferPointer { dp in  // in place, as the trainer calls it
                    LabelSmoothedCrossEntropy.backward(dlogits: dp.baseAddress!, logits: dp.baseAddress!, targets: targets, rows: n,
                                                       vocab: v, smoothing: epsilon, ignoreIndex: pad, dloss: 0.25, pool: pool)
                }
                let fd = finiteDifference(logits.doubles) {
                    0.25 * LabelSmoothedCrossEntropy.forwardReference(logits: $0, targets: targets.map(Int.init), vocab: v,
                                                                      smoothing: Double(epsilon), ignoreIndex: Int(pad)).reduce(0, +)
                }
                assertClose(d, fd, tolerance: 1e-6, "label-smoothed cross-entropy dlogits \(n)x\(v) ε \(epsilon)")
            }
        }
    }

    func testZeroSmoothingEqualsCrossEntropy() {
        var rng = TestRandom(172)
        let n = 6, v = 41
        let logits = rng.floats(n * v, scale: 5)
        let targets: [Int32] = [0, 40, -1, 7, 7, 13]
        var plain = [Float](repeating: 0, count: n), smoothed = plain
        CrossEntropy.forward(losses: &plain, logits: logits, targets: targets, rows: n, vocab: v, pool: pools[0])
        LabelSmoothedCrossEntropy.forward(losses: &smoothed, logits: logits, targets: targets, rows: n, vocab: v, smoothing: 0,
                                          ignoreIndex: -100, pool: pools[0])
        assertClose(smoothed, plain.doubles, tolerance: 2e-6, "ε = 0 against CrossEntropy")
    }

    func testIsFiniteForExtremeLogits() {
        let logits: [Float] = [1e4, -1e4, 0, 88, -88, 3e30]
        var losses: [Float] = [0]
        LabelSmoothedCrossEntropy.forward(losses: &losses, logits: logits, targets: [Int32(5)], rows: 1, vocab: logits.count,
                                          smoothing: 0.1, ignoreIndex: -100, pool: pools[0])
        XCTAssert(losses[0].isFinite, "loss \(losses[0])")
        // (1 − ε)·0 + ε·mean(m − x) with m = 3e30: ε·(5·3e30 − small)/6.
        XCTAssertEqual(losses[0], 0.1 * 5 * 3e30 / 6, accuracy: 1e25)
    }
}
