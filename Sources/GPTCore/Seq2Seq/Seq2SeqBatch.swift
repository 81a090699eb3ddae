// A right-padded batch of (source, target) pairs for teacher forcing: the decoder reads the
// target shifted right (BOS first) and predicts it followed by EOS. Padding positions hold the
// pad id in the inputs and −1 (ignored) in the targets; lengths say where padding starts, which
// is all the attention masks need (MaskedAttention keeps a prefix of the keys).

public struct Seq2SeqBatch: Equatable, Sendable {
    public var batch: Int
    public var sourceLength: Int
    public var targetLength: Int
    /// [B, S], padded with the pad id.
    public var source: [Int32]
    /// [B]: tokens before the padding of each source.
    public var sourceLengths: [Int32]
    /// [B, T]: the decoder's input (BOS, then the target without its last token), padded.
    public var targetInput: [Int32]
    /// [B, T]: the token each decoder position predicts, −1 at padding (no loss). Empty: no loss.
    public var targets: [Int32]
    /// [B]: decoder positions before the padding of each row.
    public var targetLengths: [Int32]

    public init(batch: Int, sourceLength: Int, targetLength: Int, source: [Int32], sourceLengths: [Int32],
                targetInput: [Int32], targets: [Int32], targetLengths: [Int32]) {
        self.batch = batch; self.sourceLength = sourceLength; self.targetLength = targetLength
        self.source = source; self.sourceLengths = sourceLengths; self.targetInput = targetInput
        self.targets = targets; self.targetLengths = targetLengths
    }

    /// Pairs of token sequences (without BOS/EOS): decoder input `[BOS] + target`, prediction `target + [EOS]`,
    /// so each row has `target.count + 1` decoder positions; padded to the longest row.
    public init(pairs: [(source: [Int32], target: [Int32])], pad: Int32, bos: Int32, eos: Int32) {
        batch = pairs.count
        sourceLength = pairs.map(\.source.count).max() ?? 0
        targetLength = (pairs.map(\.target.count).max() ?? -1) + 1
        source = []; sourceLengths = []; targetInput = []; targets = []; targetLengths = []
        for (s, t) in pairs {
            source += s + Array(repeating: pad, count: sourceLength - s.count)
            sourceLengths.append(Int32(s.count))
            let fill = targetLength - t.count - 1
            targetInput += [bos] + t + Array(repeating: pad, count: fill)
            targets += t + [eos] + Array(repeating: -1, count: fill)
            targetLengths.append(Int32(t.count + 1))
        }
    }

    /// Non-padding target positions: the tokens a training step learns from.
    public var targetTokenCount: Int { targetLengths.reduce(0) { $0 + Int($1) } }
}
