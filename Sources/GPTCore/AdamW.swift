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

    public init(layout: ParameterLayout, hyper: AdamWHyperparameters = AdamWHyperparameters()) {
        self.hyper = hyper
        count = layout.count
        m = GPT.allocate(count); v = GPT.allocate(count)
        m.update(repeating: 0, count: count); v.update(repeating: 0, count: count)
    }

    deinit { m.deallocate(); v.deallocate() }

    /// One update of `model`'s parameters from its gradients.
    public func update(_ model: GPT, learningRate: Float) {
        guard let g = model.gradients else { return }
        step += 1
        for tensor in model.layout.tensors {
            let o = tensor.offset
            AdamWKernel.update(params: model.parameters + o, grads: g + o, m: m + o, v: v + o, count: tensor.count,
                               learningRate: learningRate, hyper: hyper, decay: tensor.decays, step: step,
                               pool: model.pool)
        }
    }
}
