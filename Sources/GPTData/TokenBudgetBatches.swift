// Batches of translation pairs grouped by length under a token budget, as fairseq's
// `--max-tokens` batching and the 2017 Transformer paper (§5.1: "batches of approximately
// 25000 source tokens and 25000 target tokens") do it:
//
// 1. Each epoch, shuffle all pairs with the seed (Xoshiro256** seeded from seed and epoch).
// 2. Cut the shuffled order into buckets of `bucketSize` pairs and sort each bucket by
//    (source length, target length); the shuffle breaks ties, so equal lengths still mix.
// 3. Fill batches greedily along each sorted bucket: a pair joins the batch while
//    pairs × (longest source + longest target) stays within `maxTokens`, i.e. the budget
//    counts padding, because padded tokens cost compute as real ones do (fairseq's rule too).
//    `maxPairs`, when set, also caps the pairs per batch.
// 4. Shuffle the order of all the epoch's batches with the seed.
//
// The plan of an epoch is a pure function of (lengths, options, seed, epoch), so the
// position `BatchPosition(epoch, batch)` is all a checkpoint needs to resume exactly.
//
// Pairs longer than `maxLength` on either side follow `oversize`:
// - `.refuse` (default): init throws, naming the pair's line;
// - `.truncate`: the longer side is cut to its first `maxLength` tokens (`padded` applies it);
// - `.skip`: the pair never appears in a batch (`skipped` lists them).
// The budget must hold one pair of the longest allowed lengths (maxTokens ≥ 2 · maxLength), so
// every admitted pair fits in a batch of its own.
//
// Lengths are what the model sees: `extraSourceTokens` / `extraTargetTokens` are added to every
// pair's token counts before the checks and the budget (1 on the target for teacher forcing,
// where the decoder reads BOS + target and predicts target + EOS, as GPTCore's Seq2SeqBatch
// builds it; 1 on the source for a model that appends EOS to it, as fairseq does). Truncation
// cuts the tokens so that tokens + extra = maxLength.
import Foundation
import GPTKernels

public struct TokenBudgetBatches: Sendable {
    public enum OversizePolicy: String, Sendable, CaseIterable { case refuse, truncate, skip }

    public struct Options: Equatable, Sendable {
        /// Pairs × (longest source + longest target) per batch, padding included.
        public var maxTokens: Int
        /// The longest source or target a pair may have, in tokens.
        public var maxLength: Int
        public var oversize: OversizePolicy = .refuse
        /// Pairs sorted together; larger buckets pad less, smaller ones mix more.
        public var bucketSize = 4096
        /// An optional cap on pairs per batch.
        public var maxPairs: Int?
        /// Positions the model adds to every source / target (see the header).
        public var extraSourceTokens: Int
        public var extraTargetTokens: Int

        public init(maxTokens: Int, maxLength: Int, oversize: OversizePolicy = .refuse, bucketSize: Int = 4096, maxPairs: Int? = nil,
                    extraSourceTokens: Int = 0, extraTargetTokens: Int = 0) {
            self.maxTokens = maxTokens; self.maxLength = maxLength; self.oversize = oversize
            self.bucketSize = bucketSize; self.maxPairs = maxPairs
            self.extraSourceTokens = extraSourceTokens; self.extraTargetTokens = extraTargetTokens
        }
    }

    /// One batch: pair indices and the padded lengths of its two sides, as the model sees them
    /// (tokens plus the extra positions).
    public struct Batch: Equatable, Sendable {
        public var pairs: [Int]
        public var sourceLength: Int
        public var targetLength: Int
        /// Tokens including padding: pairs × (sourceLength + targetLength).
        public var paddedTokens: Int { pairs.count * (sourceLength + targetLength) }
    }

    /// Where the next batch comes from: save it with a checkpoint to resume the same order.
    public struct BatchPosition: Codable, Equatable, Sendable {
        public var epoch: Int
        public var batch: Int
        public init(epoch: Int = 0, batch: Int = 0) { self.epoch = epoch; self.batch = batch }
    }

    public let options: Options
    public let seed: UInt64
    /// The lengths the batches use: tokens kept (after truncation) plus the extra positions.
    public let sourceLengths: [Int]
    public let targetLengths: [Int]
    /// Pairs left out by `.skip`.
    public let skipped: [Int]
    private let admitted: [Int]
    /// The plan of the epoch `next` last read.
    private var cachedPlan: (epoch: Int, batches: [Batch])?

    /// `pairs` as tokenised (the lengths must already include any BOS/EOS the model adds).
    public init(pairs: [TokenizedPair], options: Options, seed: UInt64) throws {
        try self.init(sourceLengths: pairs.map(\.source.count), targetLengths: pairs.map(\.target.count),
                      lines: pairs.map(\.line), options: options, seed: seed)
    }

    /// From lengths alone; `lines` (1-based, for errors) default to index + 1.
    public init(sourceLengths: [Int], targetLengths: [Int], lines: [Int]? = nil, options: Options, seed: UInt64) throws {
        precondition(sourceLengths.count == targetLengths.count, "one source and one target length per pair")
        guard options.maxLength >= 1 else { throw BatchingError.invalidOption("max_length", options.maxLength, "at least 1") }
        let (doubled, overflow) = options.maxLength.multipliedReportingOverflow(by: 2)
        guard !overflow, options.maxTokens >= doubled else {
            throw BatchingError.budgetTooSmall(maxTokens: options.maxTokens, maxLength: options.maxLength)
        }
        guard (0..<options.maxLength).contains(options.extraSourceTokens), (0..<options.maxLength).contains(options.extraTargetTokens) else {
            throw BatchingError.invalidOption("extra source/target tokens", max(options.extraSourceTokens, options.extraTargetTokens),
                                              "in 0..<max length \(options.maxLength)")
        }
        guard options.bucketSize >= 1 else { throw BatchingError.invalidOption("bucket_size", options.bucketSize, "at least 1") }
        if let cap = options.maxPairs, cap < 1 { throw BatchingError.invalidOption("max_pairs", cap, "at least 1") }
        guard !sourceLengths.isEmpty else { throw BatchingError.noPairs }
        var sources = sourceLengths.map { $0 + options.extraSourceTokens }, targets = targetLengths.map { $0 + options.extraTargetTokens }
        var skipped: [Int] = [], admitted: [Int] = []
        for i in sources.indices {
            guard sources[i] > options.maxLength || targets[i] > options.maxLength else { admitted.append(i); continue }
            switch options.oversize {
            case .refuse:
                throw BatchingError.pairTooLong(line: lines?[i] ?? i + 1, source: sources[i], target: targets[i], maxLength: options.maxLength)
            case .truncate:
                sources[i] = min(sources[i], options.maxLength); targets[i] = min(targets[i], options.maxLength)
                admitted.append(i)
            case .skip:
                skipped.append(i)
            }
        }
        guard !admitted.isEmpty else { throw BatchingError.noPairs }
        self.options = options; self.seed = seed
        self.sourceLengths = sources; self.targetLengths = targets
        self.skipped = skipped; self.admitted = admitted
    }

    /// Every batch of `epoch` in training order; each admitted pair is in exactly one.
    public func batches(epoch: Int) -> [Batch] {
        var generator = Xoshiro256StarStar(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: epoch + 1)))
        var order = admitted
        shuffle(&order, &generator)
        var batches: [Batch] = []
        var start = 0
        while start < order.count {
            let end = min(order.count, start + options.bucketSize)
            let bucket = order[start..<end].sorted {
                (sourceLengths[$0], targetLengths[$0]) < (sourceLengths[$1], targetLengths[$1])
            }
            fill(bucket, into: &batches)
            start = end
        }
        shuffle(&batches, &generator)
        return batches
    }

    /// The batch at `position`, moving it on (to the next epoch after the last batch). The
    /// epoch's plan is made once and kept until the position leaves it.
    public mutating func next(_ position: inout BatchPosition) -> Batch {
        if position.batch >= plan(position.epoch).count { position = BatchPosition(epoch: position.epoch + 1, batch: 0) }
        let batch = plan(position.epoch)[position.batch]
        position.batch += 1
        return batch
    }

    private mutating func plan(_ epoch: Int) -> [Batch] {
        if let cachedPlan, cachedPlan.epoch == epoch { return cachedPlan.batches }
        let made = batches(epoch: epoch)
        cachedPlan = (epoch, made)
        return made
    }

    /// The batch's pairs as token lists, truncated if the policy says so, in batch order: what
    /// GPTCore's `Seq2SeqBatch(pairs:pad:bos:eos:)` takes.
    public func tokens(of batch: Batch, pairs: [TokenizedPair]) -> [(source: [Int32], target: [Int32])] {
        batch.pairs.map { index in
            (Array(pairs[index].source.prefix(sourceLengths[index] - options.extraSourceTokens)),
             Array(pairs[index].target.prefix(targetLengths[index] - options.extraTargetTokens)))
        }
    }

    /// The batch's tokens as two right-padded, row-major id matrices (no extra positions):
    /// source [B, sourceLength − extraSourceTokens], target [B, targetLength − extraTargetTokens].
    public func padded(_ batch: Batch, pairs: [TokenizedPair], padding: Int32) -> (source: [Int32], target: [Int32]) {
        let s = batch.sourceLength - options.extraSourceTokens, t = batch.targetLength - options.extraTargetTokens
        var source = [Int32](repeating: padding, count: batch.pairs.count * s)
        var target = [Int32](repeating: padding, count: batch.pairs.count * t)
        for (row, pair) in tokens(of: batch, pairs: pairs).enumerated() {
            source.replaceSubrange((row * s)..<(row * s + pair.source.count), with: pair.source)
            target.replaceSubrange((row * t)..<(row * t + pair.target.count), with: pair.target)
        }
        return (source, target)
    }

    /// Greedy filling along a sorted bucket.
    private func fill(_ bucket: [Int], into batches: inout [Batch]) {
        var current = Batch(pairs: [], sourceLength: 0, targetLength: 0)
        for index in bucket {
            let s = max(current.sourceLength, sourceLengths[index]), t = max(current.targetLength, targetLengths[index])
            let fits = (current.pairs.count + 1) * (s + t) <= options.maxTokens
                && current.pairs.count < (options.maxPairs ?? .max)
            if !fits, !current.pairs.isEmpty {
                batches.append(current)
                current = Batch(pairs: [], sourceLength: 0, targetLength: 0)
            }
            current.pairs.append(index)
            current.sourceLength = max(current.sourceLength, sourceLengths[index])
            current.targetLength = max(current.targetLength, targetLengths[index])
        }
        if !current.pairs.isEmpty { batches.append(current) }
    }

    /// Fisher–Yates with the seeded generator (Swift's own shuffle may change between releases).
    private func shuffle<T>(_ items: inout [T], _ generator: inout Xoshiro256StarStar) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(i, generator.next(below: i + 1)) }
    }
}

public enum BatchingError: Error, Equatable, CustomStringConvertible {
    case budgetTooSmall(maxTokens: Int, maxLength: Int)
    case invalidOption(String, Int, String)
    case pairTooLong(line: Int, source: Int, target: Int, maxLength: Int)
    case noPairs

    public var description: String {
        switch self {
        case let .budgetTooSmall(maxTokens, maxLength):
            return "a budget of \(maxTokens) tokens per batch cannot hold one pair of the longest allowed lengths "
                + "(2 × max length \(maxLength)); raise the token budget or lower the max length"
        case let .invalidOption(name, value, allowed): return "\(name) = \(value): must be \(allowed)"
        case let .pairTooLong(line, source, target, maxLength):
            return "line \(line): the pair has \(source) source and \(target) target tokens, more than the max length \(maxLength); "
                + "raise the max length, or truncate or skip such pairs"
        case .noPairs: return "no pairs to batch: every pair was skipped or the data is empty"
        }
    }
}
