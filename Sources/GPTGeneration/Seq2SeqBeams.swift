// The encoder–decoder Transformer as a `BeamSearchDecoder`: the source is encoded once, and
// each step reorders the decoder's rows by the search's parents (their self-attention caches
// follow; all rows read the one source's cached cross-attention keys and values), feeds the
// live beams' tokens and returns log-softmax of their logits. Greedy decoding is the same with
// one beam (`BeamSearch.greedy`).
import GPTCore

public struct Seq2SeqBeams: BeamSearchDecoder {
    public let decoder: Seq2SeqDecoder
    public var vocabularySize: Int { decoder.model.config.vocabSize }

    /// Encodes `source` and makes room for `beams` rows of up to `maxLength` decoder positions
    /// (at least the search's `maxLength`; at most the model's max_position_embeddings).
    public init(model: Seq2SeqTransformer, source: [Int32], beams: Int, maxLength: Int) throws {
        let memory = try model.encode(sources: [source])
        decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: [Int](repeating: 0, count: max(1, beams)),
                                     maxLength: maxLength)
    }

    public mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] {
        try decoder.reorder(parents)
        return BeamSearch.logSoftmax(try decoder.step(tokens: tokens), vocabulary: vocabularySize)
    }
}
