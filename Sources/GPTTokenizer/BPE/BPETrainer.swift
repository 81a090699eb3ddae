// Byte-level BPE training, the algorithm of Sennrich et al. (2016) as GPT-2 and
// Hugging Face `tokenizers`' BpeTrainer apply it to byte sequences: start from the
// 256 bytes (ids 0..255 in GPT-2's order, so ids of single bytes match GPT-2), then
// repeatedly merge the most frequent adjacent pair inside the counted chunks.
//
// Tie-break (deterministic): among pairs of equal count, the one with the smaller
// left id wins, then the smaller right id.
//
// Speed: pair counts are updated only around each occurrence of the merged pair,
// an index maps each pair to the chunks containing it, and candidates sit in a
// max-heap whose stale entries are re-queued with their current count on pop.
import Foundation

public enum BPETrainer {
    /// Progress of training: `merges` of `totalMerges` done.
    public typealias Progress = (_ merges: Int, _ totalMerges: Int) -> Void

    /// What training produced, and whether it ran out of pairs before the requested size.
    public struct Report {
        public let tokenizer: BytePairTokenizer
        /// Merges learned.
        public let merges: Int
        /// Merges the requested vocabulary size asked for.
        public let requestedMerges: Int
        /// True when no adjacent pair was left before `requestedMerges` were learned.
        public var stoppedEarly: Bool { merges < requestedMerges }
        /// One line for the user, e.g. "stopped at 812 merges of 999999743 requested: no pairs left".
        public var summary: String {
            stoppedEarly ? "stopped at \(merges) merges of \(requestedMerges) requested: no pairs left"
                : "learned \(merges) merges"
        }
    }

    /// Learns a vocabulary of `vocabularySize` ids: 256 bytes, merges, then `specialTokens`
    /// (ids after all ordinary tokens). Stops early if no pair occurs any more.
    public static func train(counts: ChunkCounter, vocabularySize: Int,
                             specialTokens: [String] = [BytePairTokenizer.endOfText],
                             name: String = "bpe", progress: Progress? = nil) throws -> BytePairTokenizer {
        try trainReporting(counts: counts, vocabularySize: vocabularySize, specialTokens: specialTokens,
                           name: name, progress: progress).tokenizer
    }

    /// `train`, also saying how many merges were found: a corpus may run out of pairs long
    /// before a large `vocabularySize`. Nothing is allocated for the requested size; tables
    /// grow as merges are found. `vocabularySize` must be below `BytePairTokenizer.idLimit`.
    public static func trainReporting(counts: ChunkCounter, vocabularySize: Int,
                                      specialTokens: [String] = [BytePairTokenizer.endOfText],
                                      name: String = "bpe", progress: Progress? = nil) throws -> Report {
        let minimum = 256 + specialTokens.count
        guard vocabularySize >= minimum else {
            throw TokenizerError.vocabularyTooSmall(requested: vocabularySize, minimum: minimum)
        }
        guard vocabularySize <= BytePairTokenizer.idLimit else {
            throw TokenizerError.vocabularyTooLarge(requested: vocabularySize, maximum: BytePairTokenizer.idLimit)
        }
        guard counts.byteCount > 0 else { throw TokenizerError.emptyCorpus }
        let targetMerges = vocabularySize - minimum

        var tokens: [[UInt8]] = ByteLevelAlphabet.byteOrder.map { [$0] }
        // Sized for what the corpus can yield at most, not for the request: each merge needs
        // a distinct pair, so there are fewer merges than bytes of text.
        var tokenTable = ByteSequenceTable(minimumCapacity: 256 + min(targetMerges, counts.byteCount))
        for token in tokens { tokenTable.insert(token) }
        var idOfByte = [Int32](repeating: 0, count: 256)
        for (id, byte) in ByteLevelAlphabet.byteOrder.enumerated() { idOfByte[Int(byte)] = Int32(id) }

        var words = WordStore(counts: counts, idOfByte: idOfByte)
        var queue = PairQueue()
        for (pair, count) in words.pairCounts { queue.push(count: count, pair: pair) }

        var merges = 0
        while merges < targetMerges, let (count, pair) = queue.popBest() {
            // Stale entry: the pair's count has fallen since it was queued.
            let current = words.pairCounts[pair] ?? 0
            if current != count {
                if current > 0 { queue.push(count: current, pair: pair) }
                continue
            }
            let left = Int(pair >> 32), right = Int(pair & 0xFFFF_FFFF)
            let merged = tokens[left] + tokens[right]
            // The same bytes can arise from two different pairs (a+bc, ab+c): reuse the
            // existing id so every token's bytes stay unique, as rank lookup requires.
            let existing = merged.withUnsafeBufferPointer { tokenTable.find($0.baseAddress!, count: $0.count) }
            let newID: Int32
            if existing >= 0 {
                newID = Int32(existing)
            } else {
                newID = Int32(tokens.count)
                tokens.append(merged)
                tokenTable.insert(merged)
                merges += 1
                progress?(merges, targetMerges)
            }
            for (newPair, newCount) in words.apply(pair: pair, as: newID) {
                queue.push(count: newCount, pair: newPair)
            }
        }
        let specials = Dictionary(uniqueKeysWithValues: specialTokens.enumerated().map { ($1, tokens.count + $0) })
        let tokenizer = try BytePairTokenizer(name: name, tokens: tokens, specialTokens: specials, source: "training")
        return Report(tokenizer: tokenizer, merges: merges, requestedMerges: targetMerges)
    }
}
