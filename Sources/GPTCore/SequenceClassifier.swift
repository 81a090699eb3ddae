// GPT with a classification head (GPT-1, section 3.2): the head reads the final hidden
// state (after ln_f, as Hugging Face's GPT2ForSequenceClassification does) of each
// sequence's last real token, and the fine-tuning loss is
//   L = L_classification + λ · L_language-model
// over the same padded batch. With λ = 0 the LM head is skipped altogether.
import GPTKernels

public struct ClassifierLoss: Equatable, Sendable {
    public var total: Float
    public var classification: Float
    /// The language-model loss (0 when λ = 0 skips it).
    public var languageModel: Float
}

public final class SequenceClassifier {
    public let model: GPT
    public let head: ClassificationHead
    /// Class probabilities of the last forward pass: [B, K].
    public private(set) var probabilities: [Float] = []

    private var features: [Float] = []          // [B, C]
    private var logits: [Float] = []            // [B, K]
    private var hiddenGradient: [Float] = []    // [B, T, C], reused: the largest buffer
    private var lastBatch: (rows: [Int], labels: [Int], weight: Float, positions: Int)?

    /// A classifier over `model`, whose layout must hold a head (`GPT(config:classCount:…)`).
    public init(model: GPT) throws {
        guard let head = ClassificationHead(model) else {
            throw GPTError.shapeMismatch(expected: 2, got: 0, what: "classes: the model was built without a classification head")
        }
        self.model = model
        self.head = head
    }

    public var classCount: Int { head.classCount }

    /// Runs the batch; with `labels`, returns the losses (λ = `languageModelWeight`) and keeps what
    /// `backward` needs. Without labels it only fills `probabilities`.
    @discardableResult
    public func forward(_ batch: PaddedBatch, labels: [Int]?, languageModelWeight: Float = 0) throws -> ClassifierLoss? {
        let b = batch.batch, c = model.config.embeddingSize, k = head.classCount
        if let labels {
            guard labels.count == b else { throw GPTError.shapeMismatch(expected: b, got: labels.count, what: "labels") }
            if let bad = labels.first(where: { $0 < 0 || $0 >= k }) {
                throw GPTError.shapeMismatch(expected: k, got: bad, what: "label index (classes)")
            }
        }
        let useLM = labels != nil && languageModelWeight > 0
        let lmLoss = try model.forward(tokens: batch.tokens, targets: useLM ? batch.targets : nil,
                                       batch: b, seq: batch.seq, languageModelHead: useLM) ?? 0
        let rows = batch.lastTokenRows
        features = [Float](repeating: 0, count: b * c)
        logits = [Float](repeating: 0, count: b * k)
        probabilities = [Float](repeating: 0, count: b * k)
        let hidden = model.hiddenStates
        for (i, row) in rows.enumerated() {
            for j in 0..<c { features[i * c + j] = hidden[row * c + j] }
        }
        features.withUnsafeBufferPointer { f in
            logits.withUnsafeMutableBufferPointer { head.forward(logits: $0.baseAddress!, features: f.baseAddress!, batch: b) }
        }
        let loss = logits.withUnsafeBufferPointer { l in
            probabilities.withUnsafeMutableBufferPointer {
                ClassificationHead.softmaxCrossEntropy(probabilities: $0.baseAddress!, logits: l.baseAddress!, batch: b,
                                                       classCount: k, labels: labels)
            }
        }
        guard let labels, let loss else { lastBatch = nil; return nil }
        lastBatch = (rows, labels, useLM ? languageModelWeight : 0, b * batch.seq)
        let lm = useLM ? lmLoss : 0
        return ClassifierLoss(total: loss + languageModelWeight * lm, classification: loss, languageModel: lm)
    }

    /// Adds the gradient of the last forward's total loss to the model's and the head's gradients.
    public func backward() throws {
        guard let last = lastBatch else { throw GPTError.backwardWithoutTargets }
        let b = last.labels.count, c = model.config.embeddingSize, k = head.classCount
        var dlogits = [Float](repeating: 0, count: b * k)
        var dfeatures = [Float](repeating: 0, count: b * c)
        probabilities.withUnsafeBufferPointer { p in
            ClassificationHead.crossEntropyBackward(dlogits: &dlogits, probabilities: p.baseAddress!, labels: last.labels, classCount: k)
        }
        features.withUnsafeBufferPointer { f in
            head.backward(dfeatures: &dfeatures, dlogits: dlogits, features: f.baseAddress!, batch: b)
        }
        if hiddenGradient.count < last.positions * c { hiddenGradient = [Float](repeating: 0, count: last.positions * c) }
        hiddenGradient.withUnsafeMutableBufferPointer { $0.baseAddress!.update(repeating: 0, count: last.positions * c) }
        for (i, row) in last.rows.enumerated() {
            for j in 0..<c { hiddenGradient[row * c + j] = dfeatures[i * c + j] }
        }
        try hiddenGradient.withUnsafeBufferPointer { try model.backward(lossScale: last.weight, hiddenGradient: $0.baseAddress!) }
    }

    public func zeroGradients() { model.zeroGradients() }

    /// The global L2 norm over every gradient, the head's included.
    public func gradientNorm() -> Double { model.gradientNorm() }

    public var parametersAreFinite: Bool { model.parametersAreFinite }
}
