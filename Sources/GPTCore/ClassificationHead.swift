// A classification head: GPT-1's W_y, a linear layer from one hidden state per sequence
// to class logits, with softmax cross-entropy. Its tensors live in the model's parameter
// layout (so one optimizer and one checkpoint walk cover them), stored as Hugging Face's
// GPT2ForSequenceClassification stores its `score` layer (weight [K, C]), plus a bias [K].
// K and B are small (a few classes, one row per sequence), so plain loops with Double
// sums are both fast enough and exact enough for the finite-difference tests.
import Foundation
import GPTKernels

public struct ClassificationHead {
    /// The model whose parameter layout holds the head (`score.weight`, `score.bias`).
    public unowned let model: GPT
    public let inputSize: Int
    public let classCount: Int
    private let weightOffset: Int, biasOffset: Int

    public static let weightName = ParameterLayout.scoreWeightName
    public static let biasName = ParameterLayout.scoreBiasName
    /// More classes than this is a column of IDs or free text, not labels.
    public static let maximumClassCount = 100_000

    /// The head in `model`'s layout, or nil when the model was built without one.
    public init?(_ model: GPT) {
        guard let score = model.layout.score else { return nil }
        self.model = model
        inputSize = model.config.embeddingSize
        classCount = score.classCount
        (weightOffset, biasOffset) = (score.weight, score.bias)
    }

    /// The head's tensors, with their offsets in the model's layout.
    public var tensors: [ParameterTensor] { [Self.weightName, Self.biasName].compactMap { model.layout[$0] } }
    public var count: Int { classCount * inputSize + classCount }

    public var weight: UnsafeMutablePointer<Float> { model.parameters + weightOffset }
    public var bias: UnsafeMutablePointer<Float> { model.parameters + biasOffset }
    /// The head's parameters in the model's buffer: weight [K, C] then bias [K], contiguous.
    public var parameters: UnsafeMutablePointer<Float> { weight }
    /// The head's gradients, in the same order (allocating the model's gradients if needed).
    public var gradients: UnsafeMutablePointer<Float> {
        if model.gradients == nil { model.zeroGradients() }
        return model.gradients! + weightOffset
    }

    /// Zeroes the head's gradients only.
    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    /// GPT-2's initialisation for a new linear layer: weights N(0, 0.02), bias zero.
    public func initialize(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        rng.fillNormal(weight, count: classCount * inputSize, std: 0.02)
        bias.update(repeating: 0, count: classCount)
    }

    // logits: [B, K]; features: [B, C]
    public func forward(logits: UnsafeMutablePointer<Float>, features: UnsafePointer<Float>, batch: Int) {
        let c = inputSize
        for b in 0..<batch {
            let x = features + b * c
            for k in 0..<classCount {
                let w = weight + k * c
                var sum = Double(bias[k])
                for i in 0..<c { sum += Double(w[i]) * Double(x[i]) }
                logits[b * classCount + k] = Float(sum)
            }
        }
    }

    /// Accumulates dW [K, C] += dlogitsᵀ·features and db [K] += Σ_b dlogits into the model's gradients;
    /// writes dfeatures [B, C] = dlogits · W.
    public func backward(dfeatures: UnsafeMutablePointer<Float>, dlogits: UnsafePointer<Float>,
                         features: UnsafePointer<Float>, batch: Int) {
        let c = inputSize, dw = gradients, db = gradients + classCount * c
        for b in 0..<batch {
            let x = features + b * c, dx = dfeatures + b * c, d = dlogits + b * classCount
            dx.update(repeating: 0, count: c)
            for k in 0..<classCount {
                let g = d[k], w = weight + k * c, dwk = dw + k * c
                db[k] += g
                for i in 0..<c {
                    dwk[i] += g * x[i]
                    dx[i] += g * w[i]
                }
            }
        }
    }

    /// Softmax of each row of `logits` [B, K] into `probabilities`; with `labels`, returns the
    /// mean over rows of −log p(label), computed from the log-sum-exp so it never overflows.
    @discardableResult
    public static func softmaxCrossEntropy(probabilities: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                                           batch: Int, classCount k: Int, labels: [Int]? = nil) -> Float? {
        var total = 0.0
        for b in 0..<batch {
            let row = logits + b * k, p = probabilities + b * k
            var maximum = -Float.infinity
            for j in 0..<k { maximum = max(maximum, row[j]) }
            var sum = 0.0
            for j in 0..<k { sum += exp(Double(row[j] - maximum)) }
            for j in 0..<k { p[j] = Float(exp(Double(row[j] - maximum)) / sum) }
            if let labels { total += log(sum) - Double(row[labels[b]] - maximum) }
        }
        return labels == nil ? nil : Float(total / Double(max(1, batch)))
    }

    /// d(scale × mean cross-entropy)/dlogits = scale·(p − onehot(label))/B.
    public static func crossEntropyBackward(dlogits: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>,
                                            labels: [Int], classCount k: Int, scale: Float = 1) {
        let factor = scale / Float(max(1, labels.count))
        for (b, label) in labels.enumerated() {
            for j in 0..<k {
                dlogits[b * k + j] = factor * (probabilities[b * k + j] - (j == label ? 1 : 0))
            }
        }
    }
}
