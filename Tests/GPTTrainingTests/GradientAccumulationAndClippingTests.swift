// Gradient accumulation and clipping, the two steps between backward and AdamW that the
// kernel tests (every gradient starting at zero) never reach.
// - Accumulation: backward adds to the gradients it is given, so N micro-batches with loss scale
//   1/N added to non-zero gradients G0 give G0 + the gradient of the one large batch; a kernel
//   that overwrote (`=`) instead of adding (`+=`) loses G0 or an earlier micro-batch.
// - Clipping: AdamW.update(model, maxGradientNorm:) against torch.nn.utils.clip_grad_norm_
//   followed by torch.optim.AdamW, on a case recorded by Tests/scripts/clip_grad_norm_reference.py
//   (the numbers are inline, so the test needs no torch).
import Foundation
import XCTest
import GPTCore
import GPTKernels

final class GradientAccumulationAndClippingTests: XCTestCase {
    func testMicroBatchesAddToNonZeroGradientsAsOneLargeBatch() throws {
        for config in [GPTConfig(vocabSize: 11, contextLength: 8, embeddingSize: 16, layerCount: 2, headCount: 2),
                       GPTConfig(vocabSize: 13, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 4,
                                 bias: false, activation: .relu, positions: .sinusoidal)] {
            var rng = SplitMix64(seed: 5)
            let v = UInt64(config.vocabSize)
            let x = (0..<64).map { _ in Int32(rng.next() % v) }, y = (0..<64).map { _ in Int32(rng.next() % v) }
            // Starting gradients of the gradients' own size (~1e-2), so an error in either part shows.
            let g0 = (0..<ParameterLayout(config).count).map { _ in
                Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * 0.01
            }
            func model() throws -> GPT {
                let m = try GPT(config: config, seed: 2, pool: ThreadPool(threads: 2))
                m.zeroGradients()
                m.gradients!.update(from: g0, count: g0.count)
                return m
            }
            let whole = try model()
            try whole.forward(tokens: x, targets: y, batch: 8, seq: 8)
            try whole.backward()
            let parts = try model()
            for quarter in 0..<4 {
                let range = (quarter * 16)..<(quarter * 16 + 16)
                try parts.forward(tokens: Array(x[range]), targets: Array(y[range]), batch: 2, seq: 8)
                try parts.backward(lossScale: 0.25)
            }
            var worstRelative = 0.0
            for t in whole.layout.tensors {
                let expected = Array(whole.gradient(t.name)!), got = Array(parts.gradient(t.name)!)
                let added = zip(expected, g0[t.offset..<(t.offset + t.count)]).map { Double($0) - Double($1) }
                XCTAssertGreaterThan(added.map(abs).reduce(0, max), 1e-6, "\(t.name): the batch added nothing to G0")
                let scale = expected.map { Double(abs($0)) }.reduce(0, max)
                var worst = 0.0
                for (a, b) in zip(got, expected) {
                    guard a.isFinite, b.isFinite else { worst = .infinity; break }
                    worst = max(worst, abs(Double(a) - Double(b)))
                }
                XCTAssertLessThanOrEqual(worst, 1e-5 * scale + 1e-9, "\(t.name): 4 micro-batches on G0 vs one batch on G0")
                worstRelative = max(worstRelative, worst / scale)
            }
            print("accumulation (\(config.positions), bias \(config.bias)): worst relative difference \(worstRelative) (bound 1e-5)")
        }
    }

    /// Three AdamW steps (lr 1e-2, betas 0.9/0.95, weight decay 0.1 on matrices) of a 272-parameter
    /// GPT from formula gradients whose global norms are 2.61, 0.26 and 51.9, each clipped to 1 first.
    /// Without clipping the final weights would differ from these by up to 9.7e-3.
    func testClippingMatchesTorchClipGradNorm() throws {
        let config = GPTConfig(vocabSize: 3, contextLength: 2, embeddingSize: 4, layerCount: 1, headCount: 1)
        let model = try GPT(config: config, seed: 1, pool: ThreadPool(threads: 2))
        let count = model.layout.count
        XCTAssertEqual(count, Self.weights.count)
        for i in 0..<count { model.parameters[i] = Float(0.5 * sin(0.7 * Double(i) + 0.3)) }
        let optimizer = AdamW(layout: model.layout, hyper: AdamWHyperparameters(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1))
        for (step, scale) in [1.0, 0.1, 20.0].enumerated() {
            model.zeroGradients()
            for i in 0..<count {
                model.gradients![i] = Float(scale * 0.05 * cos(1.3 * Double(i) + 0.5 * Double(step)) * Double(1 + i % 7))
            }
            let norm = optimizer.update(model, learningRate: 1e-2, maxGradientNorm: 1)
            XCTAssertEqual(norm, Self.norms[step], accuracy: 1e-6 * Self.norms[step], "step \(step): the norm clip_grad_norm_ returned")
        }
        var worst = 0.0
        for i in 0..<count {
            guard model.parameters[i].isFinite else { worst = .infinity; break }
            worst = max(worst, abs(Double(model.parameters[i]) - Double(Self.weights[i])))
        }
        // About 16 float ulps of the largest weight (0.6); missing or wrong clipping is off by ~1e-2.
        XCTAssertLessThanOrEqual(worst, 1e-6, "weights after three clipped AdamW steps vs PyTorch")
        print("clipping: weights after three clipped steps within \(worst) of PyTorch's")
    }

    // From Tests/scripts/clip_grad_norm_reference.py (torch 2.13.0+cpu).
    static let norms: [Double] = [2.60962772, 0.260200381, 51.8634949]
    static let weights: [Float] = [
        0.120355822, 0.408905774, 0.522177517, 0.358358562, -0.0073345541, -0.331247419, -0.486897707, -0.412814468,
        -0.168533221, 0.127279297, 0.398895919, 0.521039069, 0.35770762, 0.0255758613, -0.339513958, -0.512057424,
        -0.408358335, -0.151938424, 0.169982195, 0.400570512, 0.473479182, 0.353224903, 0.0297241192, -0.345693827,
        -0.519482732, -0.449221104, -0.143232271, 0.195861921, 0.404502213, 0.463519841, 0.307211936, 0.0234179143,
        -0.302879602, -0.520041466, -0.454298317, -0.162353754, 0.20657894, 0.454455197, 0.46088776, 0.286211163,
        0.0150523707, -0.303607911, -0.480055779, -0.451625586, -0.177931845, 0.214844733, 0.467247218, 0.493900687,
        0.27693978, -0.0410341397, -0.308994055, -0.468693584, -0.445869565, -0.174314529, 0.178958982, 0.472447574,
        0.509532213, 0.269964188, -0.0564983785, -0.353693366, -0.467576414, -0.393027931, -0.166926414, 0.175995246,
        0.448747367, 0.510970116, 0.309032351, -0.0659283847, -0.374240279, -0.46841985, -0.382716835, -0.117609382,
        0.181941465, 0.428768694, 0.509322882, 0.311012506, -0.0397213176, -0.383953989, -0.518360257, -0.378239214,
        -0.0973235741, 0.191395864, 0.429206491, 0.464871496, 0.306295812, -0.0305714644, -0.390104353, -0.526051044,
        -0.41065523, -0.0867176428, 0.246540487, 0.430571914, 0.450401217, 0.271069646, -0.0353338681, -0.348906755,
        -0.526037276, -0.420134604, -0.0785210729, 0.259599477, 0.47501865, 0.446188658, 0.240344778, -0.0431686975,
        -0.346785039, -0.493179947, -0.418859303, -0.118323818, 0.26857233, 0.492068678, 0.446153134, 0.229543597,
        -0.0953128934, -0.35097456, -0.475791693, -0.413869023, -0.116889559, 0.236615583, 0.495728582, 0.490241379,
        0.220930442, -0.113994278, -0.382570058, -0.470907778, -0.361501962, -0.109703891, 0.229307473, 0.498580575,
        0.492940545, 0.254840791, -0.123925261, -0.4115825, -0.470312983, -0.347155422, -0.0668332875, 0.233784348,
        0.45360145, 0.490728199, 0.260026753, -0.130925372, -0.421176493, -0.513623655, -0.340207011, -0.0409555733,
        0.240580425, 0.449026763, 0.449046165, 0.254727632, -0.0908316299, -0.426907718, -0.523918509, -0.361720771,
        -0.0291976575, 0.293381572, 0.450377256, 0.431159377, 0.24726285, -0.0933483467, -0.39069277, -0.525069356,
        -0.379683465, -0.0203887317, 0.309194952, 0.487213314, 0.425013781, 0.192047, -0.10062021, -0.382984132,
        -0.523194969, -0.378184557, -0.0555948988, 0.317412466, 0.506977439, 0.421137005, 0.177283362, -0.147171259,
        -0.385590047, -0.474085122, -0.372827619, -0.0579488836, 0.297925919, 0.513925195, 0.464564741, 0.16909498,
        -0.170265391, -0.391407609, -0.468933284, -0.326550543, -0.0513775572, 0.280804873, 0.516285896, 0.469612241,
        0.19589667, -0.180996552, -0.443631083, -0.466977626, -0.30677861, -0.041735936, 0.28211984, 0.47299847,
        0.465661198, 0.20516932, -0.188771367, -0.453880817, -0.502724111, -0.298346043, 0.01493649, 0.287996471,
        0.463872343, 0.434514642, 0.200786829, -0.150939018, -0.459224969, -0.515948236, -0.291923583, 0.0289742444,
        0.335579574, 0.463635027, 0.406428367, 0.193379253, -0.149904639, -0.428909093, -0.517136753, -0.333081305,
        0.0382031947, 0.354522437, 0.466105878, 0.397685409, 0.141931072, -0.156360999, -0.415249407, -0.515782416,
        -0.333690822, 0.00816057995, 0.362919599, 0.515592575, 0.392596066, 0.12321116, -0.191123411, -0.415687382,
        -0.468256444, -0.328119993, 0.00190651603, 0.369119257, 0.522306383, 0.429164678, 0.113488398, -0.22278136,
        -0.41898182, -0.45740661, -0.286967814, 0.00755507872, 0.32756114, 0.524062455, 0.437102497, 0.106554605,
        -0.234866261, -0.466126084, -0.453972876, -0.262433052, 0.0157033205, 0.327371687, 0.487901479, 0.435710818,
        0.147171259, -0.243786857, -0.481797695, -0.480149627, -0.252879471, 0.0698377118, 0.332170695, 0.473880202,
    ]
}
