// Translation with an encoder–decoder (`gpt translate`, `gpt eval --pairs`): the encoder runs
// once per source (Seq2SeqDecoder.encode, which also projects every decoder layer's cross-attention
// keys and values once), then the decoder takes one token per step over its KV cache. Greedy is
// beam search with one beam and streams each chosen token; beam search keeps `beam` rows per
// source and reorders their caches as hypotheses are chosen (BeamSearch over Seq2SeqBeams for one
// source; several sources share one decoder, each search over its own rows).
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
        if beam == 1 && onToken == nil && sources.count > 1 {
            var out: [Translation] = []
            for start in stride(from: 0, to: sources.count, by: Self.greedyRows) {
                out += try greedy(Array(sources[start..<min(start + Self.greedyRows, sources.count)]), maxLength: length)
            }
            return out
        }
        // Search on until no live beam can beat the k-th finished one (not merely until k have
        // finished), so a short early hypothesis does not end the search.
        let options = BeamSearchOptions(beamSize: beam, maxLength: length, endOfSequence: eos, lengthPenalty: lengthPenalty,
                                        stopping: .noBetterPossible)
        if beam > 1 && sources.count > 1 {
            let group = max(1, Self.beamRows / beam)
            var out: [Translation] = []
            for start in stride(from: 0, to: sources.count, by: group) {
                out += try beamSearch(Array(sources[start..<min(start + group, sources.count)]), options: options).map(translation)
            }
            return out
        }
        return try sources.enumerated().map { index, source in
            var beams = try Seq2SeqBeams(model: model, source: source, beams: beam, maxLength: length)
            if beam == 1 {
                return try translation(BeamSearch.greedy(&beams, start: bos, maxLength: length, endOfSequence: eos,
                                                         onToken: onToken.map { f in { f(index, $0) } }))
            }
            return try translation(BeamSearch.search(&beams, start: bos, options: options)[0])
        }
    }

    private func translation(_ best: BeamHypothesis) throws -> Translation {
        let ids = best.endedWithEOS ? Array(best.tokens.dropLast()) : best.tokens
        return Translation(ids: ids, text: try text(ids), logProbability: best.logProbability, score: best.score,
                           endedWithEOS: best.endedWithEOS)
    }

    /// Decoder rows shared by the sources `beamSearch` searches together (beamRows / beam sources).
    static let beamRows = 32

    /// Beam search of several sources at once: they are encoded as one padded batch, and one decoder
    /// holds every unfinished search's live beams side by side, each search's rows reordered by its own
    /// parents; a search leaves when it ends. Each source gets the hypotheses it gets alone
    /// (`BeamSearch.search` over `Seq2SeqBeams`): rows do not interact, and each search chooses from
    /// its own rows only.
    func beamSearch(_ sources: [[Int32]], options: BeamSearchOptions) throws -> [BeamHypothesis] {
        let k = options.beamSize, v = model.config.vocabSize, bos = Int32(model.config.bosTokenId)
        let memory = try model.encode(sources: sources)
        let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: sources.indices.flatMap { Array(repeating: $0, count: k) },
                                         maxLength: options.maxLength)
        var searches = try sources.map { _ in try BeamSearchState(start: bos, options: options, vocabulary: v) }
        // Where each search's rows were in the decoder's last step (at first, the first of its k rows).
        var firstRow = sources.indices.map { $0 * k }
        while true {
            var parents: [Int] = [], tokens: [Int32] = [], stepping: [Int] = []
            for (i, search) in searches.enumerated() where !search.isDone {
                stepping.append(i)
                parents += search.parents.map { firstRow[i] + $0 }
                tokens += search.tokens
            }
            if stepping.isEmpty { break }
            try decoder.reorder(parents)
            let rows = BeamSearch.logSoftmax(try decoder.step(tokens: tokens), vocabulary: v)
            try rows.withUnsafeBufferPointer { all in
                var row = 0
                for i in stepping {
                    let count = searches[i].liveCount
                    firstRow[i] = row
                    _ = try searches[i].advance(UnsafeBufferPointer(rebasing: all[(row * v)..<((row + count) * v)]))
                    row += count
                }
            }
        }
        return try searches.map { try $0.hypotheses()[0] }
    }

    /// Sources decoded together by `greedy`.
    static let greedyRows = 32

    /// Greedy translations of several sources at once: they are encoded as one padded batch, and one
    /// decoder feeds every unfinished row per step; a row leaves when it emits EOS. Each row gets the
    /// tokens, log-probability and score that one-source greedy (`BeamSearch.greedy`) gives: rows do
    /// not interact (padding is masked, and the GEMMs sum each row alike whatever the row count), and
    /// the choice is the same (the most probable token, the lowest id among equals).
    func greedy(_ sources: [[Int32]], maxLength length: Int) throws -> [Translation] {
        let bos = Int32(model.config.bosTokenId), eos = Int32(model.config.eosTokenId), v = model.config.vocabSize
        let memory = try model.encode(sources: sources)
        let decoder = try Seq2SeqDecoder(model: model, memory: memory, sources: Array(sources.indices), maxLength: length)
        var generated = [[Int32]](repeating: [], count: sources.count)
        var logProbability = [Double](repeating: 0, count: sources.count)
        var ended = [Bool](repeating: false, count: sources.count)
        var live = Array(sources.indices)  // the source of each decoder row
        var tokens = [Int32](repeating: bos, count: sources.count)
        for step in 1...length {
            let rows = BeamSearch.logSoftmax(try decoder.step(tokens: tokens), vocabulary: v)
            var survivors: [Int] = [], next: [Int32] = []
            for (row, source) in live.enumerated() {
                var best = -1, bestValue = -Float.infinity
                for token in 0..<v {
                    let lp = rows[row * v + token]
                    guard !lp.isNaN, lp != .infinity else { throw BeamSearchError.notALogProbability(beam: 0, token: token) }
                    if lp > bestValue { best = token; bestValue = lp }
                }
                guard best >= 0 else { throw BeamSearchError.noHypothesis }
                generated[source].append(Int32(best))
                logProbability[source] += Double(bestValue)
                if Int32(best) == eos {
                    ended[source] = true
                } else if step < length {
                    survivors.append(row); next.append(Int32(best))
                }
            }
            if survivors.isEmpty { break }
            if survivors.count < live.count { try decoder.reorder(survivors) }
            live = survivors.map { live[$0] }
            tokens = next
        }
        return try sources.indices.map { i in
            let ids = ended[i] ? Array(generated[i].dropLast()) : generated[i]
            return Translation(ids: ids, text: try text(ids), logProbability: logProbability[i], score: logProbability[i],
                               endedWithEOS: ended[i])
        }
    }

    /// The text of target ids; ids the tokenizer does not have (an appended special id) are left out.
    public func text(_ ids: [Int32]) throws -> String {
        try tokenizer.decode(ids.map(Int.init).filter { $0 < tokenizer.vocabularySize && $0 != model.config.eosTokenId })
    }
}
