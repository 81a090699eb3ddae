// Translation with an encoder–decoder (`gpt translate`, `gpt eval --pairs`): the encoder runs
// once per source (Seq2SeqDecoder.encode, which also projects every decoder layer's cross-attention
// keys and values once), then the decoder takes one token per step over its KV cache. Greedy is
// beam search with one beam and streams each chosen token; beam search keeps `beam` rows of one
// source and reorders their caches as hypotheses are chosen (BeamSearch over Seq2SeqBeams, the one
// beam decoder of the encoder–decoder).
// Decoding starts from the config's BOS and stops at its EOS; ids outside the tokenizer's
// vocabulary (an appended special id) are never printed.
import Foundation
import GPTCore
import GPTTokenizer

/// One source's result.
public struct Translation: Equatable, Sendable {
    /// Generated target tokens, without the start token and without EOS.
    public var ids: [Int32]
    public var text: String
    /// Σ log P of the generated tokens (EOS included when it ended with one).
    public var logProbability: Double
    /// What beam search ranks by: logProbability over the length penalty.
    public var score: Double
    public var endedWithEOS: Bool
}

public struct Translator {
    public let model: Seq2SeqTransformer
    public let tokenizer: any Tokenizer

    public init(model: Seq2SeqTransformer, tokenizer: any Tokenizer) {
        self.model = model; self.tokenizer = tokenizer
    }

    /// Translates each source (token ids, 1...max_position_embeddings of them): greedy when `beam`
    /// is 1, else beam search with `lengthPenalty`. At most `maxLength` tokens are generated (EOS
    /// included; capped by the model's positions). `onToken(source index, token)` streams greedy output.
    public func translate(_ sources: [[Int32]], beam: Int = 1, lengthPenalty: LengthPenalty = .gnmt(alpha: 0.6),
                          maxLength: Int, onToken: ((Int, Int32) -> Void)? = nil) throws -> [Translation] {
        guard beam >= 1 else { throw BeamSearchError.invalidOption("the beam size is \(beam), expected at least 1") }
        guard maxLength >= 1 else { throw BeamSearchError.invalidOption("the max length is \(maxLength), expected at least 1") }
        let length = min(maxLength, model.config.maxPositions)
        let bos = Int32(model.config.bosTokenId), eos = Int32(model.config.eosTokenId)
        return try sources.enumerated().map { index, source in
            var beams = try Seq2SeqBeams(model: model, source: source, beams: beam, maxLength: length)
            let best: BeamHypothesis
            if beam == 1 {
                best = try BeamSearch.greedy(&beams, start: bos, maxLength: length, endOfSequence: eos,
                                             onToken: onToken.map { f in { f(index, $0) } })
            } else {
                // Search on until no live beam can beat the k-th finished one (not merely until k have
                // finished), so a short early hypothesis does not end the search.
                let options = BeamSearchOptions(beamSize: beam, maxLength: length, endOfSequence: eos, lengthPenalty: lengthPenalty,
                                                stopping: .noBetterPossible)
                best = try BeamSearch.search(&beams, start: bos, options: options)[0]
            }
            let ids = best.endedWithEOS ? Array(best.tokens.dropLast()) : best.tokens
            return Translation(ids: ids, text: try text(ids), logProbability: best.logProbability, score: best.score,
                               endedWithEOS: best.endedWithEOS)
        }
    }

    /// The text of target ids; ids the tokenizer does not have (an appended special id) are left out.
    public func text(_ ids: [Int32]) throws -> String {
        try tokenizer.decode(ids.map(Int.init).filter { $0 < tokenizer.vocabularySize && $0 != model.config.eosTokenId })
    }
}
