// AdamW over a model's flat parameter layout: first and second moments in the same
// layout as the parameters, decoupled weight decay on tensors of two or more
// dimensions only (torch.optim.AdamW with nanoGPT's two parameter groups).
import GPTKernels

public final class AdamW {
    public var hyper: AdamWHyperparameters
    /// First and second moments, in the model's parameter layout.
    public let m: UnsafeMutablePointer<Float>
    public let v: UnsafeMutablePointer<Float>
    /// Updates applied so far (PyTorch's `state["step"]`).
    public var step = 0
    public let count: Int

    public convenience init(layout: ParameterLayout, hyper: AdamWHyperparameters = .pytorch) {
        self.init(count: layout.count, hyper: hyper)
    }

    /// Moments for a flat buffer of `count` parameters.
    public init(count: Int, hyper: AdamWHyperparameters = .pytorch) {
        self.hyper = hyper
        self.count = count
        m = GPT.allocate(count); v = GPT.allocate(count)
        m.update(repeating: 0, count: count); v.update(repeating: 0, count: count)
    }

    deinit { m.deallocate(); v.deallocate() }

    /// One update of `model`'s parameters from its gradients, first scaled so that their global
    /// norm is at most `maxGradientNorm` (torch.nn.utils.clip_grad_norm_; nil: no clipping).
    /// Returns the norm before clipping.
    @discardableResult
    public func update(_ model: GPT, learningRate: Float, maxGradientNorm: Float? = nil) -> Double {
        guard let g = model.gradients else { return 0 }
        let norm = model.gradientNorm()
        var scale: Float = 1
        if let maxNorm = maxGradientNorm { scale = Self.clippingScale(norm: norm, maxNorm: maxNorm) }
        update(parameters: model.parameters, gradients: g, tensors: model.layout.tensors, learningRate: learningRate,
               gradientScale: scale, pool: model.pool)
        return norm
    }

    /// One update of the flat buffer `parameters` (laid out as `tensors`) from `gradients` × `gradientScale`;
    /// with `part`, of the elements in that range only (a data-parallel rank's share of the update).
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, tensors: [ParameterTensor],
                       learningRate: Float, gradientScale: Float, part: Range<Int>? = nil, pool: ThreadPool) {
        // `step` may come from a resumed run's state.json: saturate rather than trap (at that count
        // the bias corrections are 1 either way).
        step = step < Int.max ? step + 1 : step
        for tensor in tensors {
            var range = tensor.offset..<tensor.offset + tensor.count
            if let part { range = range.clamped(to: part) }
            guard !range.isEmpty else { continue }
            let o = range.lowerBound
            AdamWKernel.update(params: parameters + o, grads: gradients + o, m: m + o, v: v + o, count: range.count,
                               learningRate: learningRate, hyper: hyper, decay: tensor.decays, step: step,
                               gradientScale: gradientScale, pool: pool)
        }
    }

    /// The factor that brings a gradient of global norm `norm` down to `maxNorm` (1 if already within).
    public static func clippingScale(norm: Double, maxNorm: Float) -> Float {
        norm > Double(maxNorm) ? Float(Double(maxNorm) / (norm + 1e-6)) : 1
    }
}
