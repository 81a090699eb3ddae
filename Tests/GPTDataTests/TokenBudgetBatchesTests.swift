// Length-grouped batches under a token budget: every pair once per epoch, the budget (padding
// included) never exceeded, the same order from the same seed, resumable from a position, and
// the oversize rules.
import Foundation
import XCTest
import GPTData
import GPTTestSupport

final class TokenBudgetBatchesTests: XCTestCase {
    /// Lengths from a fixed linear congruential sequence: 1…60 source, 1…70 target.
    static func lengths(_ count: Int) -> (source: [Int], target: [Int]) {
        var x: UInt64 = 12345
        var source: [Int] = [], target: [Int] = []
        for _ in 0..<count {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            source.append(Int(x >> 58) + 1 + Int((x >> 20) % 4))
            target.append(Int((x >> 33) % 70) + 1)
        }
        return (source, target)
    }

    static func realFraction(_ batches: [TokenBudgetBatches.Batch], _ source: [Int], _ target: [Int]) -> Double {
        let real = batches.flatMap(\.pairs).reduce(0) { $0 + source[$1] + target[$1] }
        return Double(real) / Double(batches.reduce(0) { $0 + $1.paddedTokens })
    }

    /// The baseline: batches filled greedily under the same budget, in file order, without sorting.
    static func unsortedRealFraction(_ source: [Int], _ target: [Int], maxTokens: Int) -> Double {
        var real = 0, padded = 0, count = 0, s = 0, t = 0
        for i in source.indices {
            let (ns, nt) = (max(s, source[i]), max(t, target[i]))
            if (count + 1) * (ns + nt) > maxTokens { padded += count * (s + t); (count, s, t) = (0, 0, 0) }
            count += 1; s = max(s, source[i]); t = max(t, target[i]); real += source[i] + target[i]
        }
        padded += count * (s + t)
        return Double(real) / Double(padded)
    }

    func testEveryPairOnceEachEpochWithinTheBudgetPaddingIncluded() throws {
        let (source, target) = Self.lengths(2_000)
        let options = TokenBudgetBatches.Options(maxTokens: 600, maxLength: 80, bucketSize: 256)
        let batcher = try TokenBudgetBatches(sourceLengths: source, targetLengths: target, options: options, seed: 7)
        for epoch in 0..<3 {
            let batches = batcher.batches(epoch: epoch)
            XCTAssertEqual(batches.flatMap(\.pairs).sorted(), Array(0..<2_000), "epoch \(epoch): each pair exactly once")
            for batch in batches {
                XCTAssertLessThanOrEqual(batch.paddedTokens, 600)
                XCTAssertEqual(batch.sourceLength, batch.pairs.map { source[$0] }.max())
                XCTAssertEqual(batch.targetLength, batch.pairs.map { target[$0] }.max())
            }
            // Grouping by length pays off: less padding than the same greedy budget over the pairs in file order.
            let grouped = Self.realFraction(batches, source, target)
            let unsorted = Self.unsortedRealFraction(source, target, maxTokens: 600)
            XCTAssertGreaterThan(grouped, unsorted + 0.1, "epoch \(epoch): real tokens / padded tokens")
            if epoch == 0 { print("real/padded tokens: \(grouped) grouped by length, \(unsorted) unsorted") }
        }
        XCTAssertNotEqual(batcher.batches(epoch: 0), batcher.batches(epoch: 1), "each epoch has its own order")
    }

    func testSameSeedSameBatchesAndAnotherSeedAnotherOrder() throws {
        let (source, target) = Self.lengths(500)
        let options = TokenBudgetBatches.Options(maxTokens: 400, maxLength: 80, bucketSize: 100, maxPairs: 8)
        let a = try TokenBudgetBatches(sourceLengths: source, targetLengths: target, options: options, seed: 1)
        let b = try TokenBudgetBatches(sourceLengths: source, targetLengths: target, options: options, seed: 1)
        let c = try TokenBudgetBatches(sourceLengths: source, targetLengths: target, options: options, seed: 2)
        XCTAssertEqual(a.batches(epoch: 3), b.batches(epoch: 3))
        XCTAssertNotEqual(a.batches(epoch: 3), c.batches(epoch: 3))
        XCTAssert(a.batches(epoch: 0).allSatisfy { $0.pairs.count <= 8 }, "max_pairs caps a batch")
    }

    func testResumingFromASavedPositionContinuesTheSameSequence() throws {
        let (source, target) = Self.lengths(300)
        var batcher = try TokenBudgetBatches(sourceLengths: source, targetLengths: target,
                                             options: .init(maxTokens: 500, maxLength: 80, bucketSize: 64), seed: 9)
        let perEpoch = batcher.batches(epoch: 0).count
        var position = TokenBudgetBatches.BatchPosition()
        var straight: [TokenBudgetBatches.Batch] = []
        for _ in 0..<(perEpoch * 2 + 3) { straight.append(batcher.next(&position)) }
        XCTAssertEqual(position.epoch, 2)
        // Stop after some batch of the first epoch, save the position as JSON, resume in a new batcher.
        var first = TokenBudgetBatches.BatchPosition()
        for _ in 0..<(perEpoch - 2) { _ = batcher.next(&first) }
        var resumed = try JSONDecoder().decode(TokenBudgetBatches.BatchPosition.self, from: JSONEncoder().encode(first))
        var again = try TokenBudgetBatches(sourceLengths: source, targetLengths: target,
                                           options: .init(maxTokens: 500, maxLength: 80, bucketSize: 64), seed: 9)
        var rest: [TokenBudgetBatches.Batch] = []
        for _ in (perEpoch - 2)..<straight.count { rest.append(again.next(&resumed)) }
        XCTAssertEqual(rest, Array(straight[(perEpoch - 2)...]))
    }

    func testOversizePairsAreRefusedNamingTheLineOrTruncatedOrSkipped() throws {
        let pairs = [TokenizedPair(source: [1, 2, 3], target: [4, 5], line: 10),
                     TokenizedPair(source: Array(repeating: 7, count: 9), target: [8], line: 11),
                     TokenizedPair(source: [1], target: Array(1...6), line: 12)]
        XCTAssertThrowsError(try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 20, maxLength: 5), seed: 0)) {
            XCTAssertEqual($0 as? BatchingError, .pairTooLong(line: 11, source: 9, target: 1, maxLength: 5))
            XCTAssert("\($0)".hasPrefix("line 11:"), "\($0)")
        }
        let truncating = try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 20, maxLength: 5, oversize: .truncate), seed: 0)
        XCTAssertEqual(truncating.sourceLengths, [3, 5, 1])
        XCTAssertEqual(truncating.targetLengths, [2, 1, 5])
        let all = truncating.batches(epoch: 0)
        XCTAssertEqual(all.flatMap(\.pairs).sorted(), [0, 1, 2])
        for batch in all {
            let (s, t) = truncating.padded(batch, pairs: pairs, padding: -1)
            XCTAssertEqual(s.count, batch.pairs.count * batch.sourceLength)
            XCTAssertEqual(t.count, batch.pairs.count * batch.targetLength)
            for (row, index) in batch.pairs.enumerated() {
                let sourceRow = Array(s[(row * batch.sourceLength)..<((row + 1) * batch.sourceLength)])
                let kept = Array(pairs[index].source.prefix(5))
                XCTAssertEqual(sourceRow, kept + Array(repeating: -1, count: batch.sourceLength - kept.count))
            }
        }
        // One extra decoder position per target (BOS/EOS shift): a 5-token target no longer fits in 5.
        let shifted = try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 20, maxLength: 5, oversize: .truncate,
                                                                          extraTargetTokens: 1), seed: 0)
        XCTAssertEqual(shifted.targetLengths, [3, 2, 5])
        let shiftedTokens = shifted.batches(epoch: 0).flatMap { shifted.tokens(of: $0, pairs: pairs) }
        XCTAssert(shiftedTokens.contains { $0.source == [1] && $0.target == [1, 2, 3, 4] }, "the 6-token target cut to 4")
        XCTAssert(shifted.batches(epoch: 0).allSatisfy { $0.paddedTokens <= 20 })
        XCTAssertThrowsError(try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 20, maxLength: 5, extraTargetTokens: 1), seed: 0)) {
            XCTAssertEqual($0 as? BatchingError, .pairTooLong(line: 11, source: 9, target: 2, maxLength: 5))
        }
        let skipping = try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 20, maxLength: 5, oversize: .skip), seed: 0)
        XCTAssertEqual(skipping.skipped, [1, 2])
        XCTAssertEqual(skipping.batches(epoch: 0).flatMap(\.pairs), [0])
    }

    func testABudgetBelowOnePairOfMaxLengthIsRefused() {
        XCTAssertThrowsError(try TokenBudgetBatches(sourceLengths: [1], targetLengths: [1], options: .init(maxTokens: 9, maxLength: 5), seed: 0)) {
            XCTAssertEqual($0 as? BatchingError, .budgetTooSmall(maxTokens: 9, maxLength: 5))
        }
        XCTAssertThrowsError(try TokenBudgetBatches(sourceLengths: [], targetLengths: [], options: .init(maxTokens: 10, maxLength: 5), seed: 0)) {
            XCTAssertEqual($0 as? BatchingError, .noPairs)
        }
    }

    func testBibleVersesTokenisedWithGPT2BatchWithinTheBudgetEachOncePerEpoch() throws {
        let pairs = try TranslationPairs.tokenize(TranslationPairs.read(SharedData.file("bible-en-es-test.jsonl")), with: SharedData.gpt2())
        let batcher = try TokenBudgetBatches(pairs: pairs, options: .init(maxTokens: 2_048, maxLength: 256, bucketSize: 512), seed: 1337)
        let batches = batcher.batches(epoch: 0)
        XCTAssertEqual(batches.flatMap(\.pairs).sorted(), Array(pairs.indices))
        XCTAssert(batches.allSatisfy { $0.paddedTokens <= 2_048 })
        for batch in batches.prefix(5) {
            let (source, target) = batcher.padded(batch, pairs: pairs, padding: -1)
            for (row, index) in batch.pairs.enumerated() {
                XCTAssertEqual(Array(source[(row * batch.sourceLength)..<(row * batch.sourceLength + pairs[index].source.count)]),
                               pairs[index].source)
                XCTAssertEqual(Array(target[(row * batch.targetLength)..<(row * batch.targetLength + pairs[index].target.count)]),
                               pairs[index].target)
            }
        }
        let fraction = Self.realFraction(batches, pairs.map(\.source.count), pairs.map(\.target.count))
        print("bible-en-es-test: \(pairs.count) pairs in \(batches.count) batches of ≤ 2048 tokens, \(fraction) of them real")
    }
}
