// Growing the vocabulary of a model for new (special) tokens, as Hugging Face's
// `resize_token_embeddings(new_size)` does: the token embedding wte [V, C], which the LM
// head shares, gets V' − V new rows, each the mean of the V old rows (transformers'
// `mean_resizing`, whose normal draw has 1e-9 × the old covariance, i.e. the mean). Old rows
// and every other tensor are copied bit for bit, so the old tokens' logits do not change.
// Starting new rows at the mean keeps their logits near the average instead of at random.
import GPTKernels

extension GPT {
    /// A copy of this model whose vocabulary has `vocabularySize` (≥ the current) ids.
    public func resizingVocabulary(to vocabularySize: Int) throws -> GPT {
        let v = config.vocabSize, c = config.embeddingSize
        guard vocabularySize >= v else {
            throw GPTError.shapeMismatch(expected: v, got: vocabularySize, what: "vocabulary size (it can only grow)")
        }
        var grownConfig = config
        grownConfig.vocabSize = vocabularySize
        let grown = try GPT(config: grownConfig, classCount: layout.score?.classCount, pool: pool)
        for tensor in layout.tensors {
            guard let target = grown.layout[tensor.name] else { continue }
            (grown.parameters + target.offset).update(from: parameters + tensor.offset, count: tensor.count)
        }
        // New rows: the mean of the old ones (summed in Double, so the order of 50k rows does not matter).
        var mean = [Double](repeating: 0, count: c)
        let wte = parameters + layout.wte
        for row in 0..<v { for j in 0..<c { mean[j] += Double(wte[row * c + j]) } }
        let newRows = grown.parameters + grown.layout.wte
        for row in v..<vocabularySize { for j in 0..<c { newRows[row * c + j] = Float(mean[j] / Double(v)) } }
        grown.dropoutSeed = dropoutSeed
        return grown
    }
}
