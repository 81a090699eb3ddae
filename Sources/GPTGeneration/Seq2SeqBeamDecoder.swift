// The encoder–decoder's cached decoder (GPTCore's Seq2SeqDecoder) as a BeamSearchDecoder, and
// `translate`: encode one source once, then beam search (or greedy, beam 1) over its decoder
// rows. Each step reorders the rows' self-attention caches by the parent beams, feeds the new
// tokens, and turns the logits into log-probabilities.
import Foundation
import GPTCore

public struct Seq2SeqBeamDecoder: BeamSearchDecoder {
    public let decoder: Seq2SeqDecoder

    /// `decoder` must hold at least beamSize rows; the first step reorders them to the one start row.
    public init(decoder: Seq2SeqDecoder) { self.decoder = decoder }

    public var vocabularySize: Int { decoder.model.config.vocabSize }

    public mutating func step(tokens: [Int32], parents: [Int]) throws -> [Float] {
        try decoder.reorder(parents)
        let logits = try decoder.step(tokens: tokens)  // [M, V]
        return BeamSearch.logSoftmax(logits, vocabulary: vocabularySize)
    }
}

extension BeamSearch {
    /// The best hypotheses for one source (token ids without BOS/EOS), decoding from the model's
    /// BOS; `options.endOfSequence` is normally `model.config.eosTokenId`. `onToken` streams greedy
    /// decoding (beam 1) token by token.
    public static func translate(model: Seq2SeqTransformer, source: [Int32], options: BeamSearchOptions,
                                 onToken: ((Int32) -> Void)? = nil) throws -> [BeamHypothesis] {
        let memory = try model.encode(sources: [source])
        let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: Array(repeating: 0, count: max(1, options.beamSize)),
                                         maxLength: options.maxLength)
        var beams = Seq2SeqBeamDecoder(decoder: decoder)
        let start = Int32(model.config.bosTokenId)
        if options.beamSize == 1 && options.stopping == .beamFinished {
            return [try greedy(&beams, start: start, maxLength: options.maxLength, endOfSequence: options.endOfSequence, onToken: onToken)]
        }
        return try search(&beams, start: start, options: options)
    }
}
