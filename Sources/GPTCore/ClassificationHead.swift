// A classification head: GPT-1's W_y, a linear layer from one hidden state per sequence
// to class logits, with softmax cross-entropy. Stored as Hugging Face's
// GPT2ForSequenceClassification stores its `score` layer (weight [K, C]), plus a bias [K].
// K and B are small (a few classes, one row per sequence), so plain loops with Double
// sums are both fast enough and exact enough for the finite-difference tests.
import Foundation
import GPTKernels

public final class ClassificationHead {
    public let inputSize: Int
    public let classCount: Int
    /// `score.weight` [K, C] then `score.bias` [K], in one flat buffer.
    public let tensors: [ParameterTensor]
    public let parameters: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public var count: Int { classCount * inputSize + classCount }

    public static let weightName = "score.weight"
    public static let biasName = "score.bias"

    /// A head with zero weights, to be filled by a loader.
    public init(inputSize: Int, classCount: Int) {
        self.inputSize = inputSize
        self.classCount = classCount
        tensors = [ParameterTensor(name: Self.weightName, shape: [classCount, inputSize], offset: 0),
                   ParameterTensor(name: Self.biasName, shape: [classCount], offset: classCount * inputSize)]
        let count = classCount * inputSize + classCount
        parameters = GPT.allocate(count)
        gradients = GPT.allocate(count)
        parameters.update(repeating: 0, count: count)
        gradients.update(repeating: 0, count: count)
    }

    /// GPT-2's initialisation for a new linear layer: weights N(0, 0.02), bias zero.
    public convenience init(inputSize: Int, classCount: Int, seed: UInt64) {
        self.init(inputSize: inputSize, classCount: classCount)
        var rng = SplitMix64(seed: seed)
        rng.fillNormal(parameters, count: classCount * inputSize, std: 0.02)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
    }

    public var weight: UnsafeMutablePointer<Float> { parameters }
    public var bias: UnsafeMutablePointer<Float> { parameters + classCount * inputSize }

    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

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

    /// Accumulates dW [K, C] += dlogitsᵀ·features and db [K] += Σ_b dlogits into `gradients`;
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

    public var parametersAreFinite: Bool { (0..<count).allSatisfy { parameters[$0].isFinite } }

    /// Sum of squared gradients (for the global norm that clipping uses).
    public func gradientSumOfSquares() -> Double {
        var sum = 0.0
        for i in 0..<count { sum += Double(gradients[i]) * Double(gradients[i]) }
        return sum
    }
}
