// Incremental decoding for the encoder–decoder Transformer. The encoder runs once per batch
// of sources (`encode`), which also projects its output through every decoder layer's
// cross-attention key and value weights: those keys and values are all cross-attention ever
// needs, so a step costs no work over the memory but the attention itself. A `Seq2SeqDecoder`
// then advances M rows (beams) one token per `step`: each layer's self-attention keeps its
// keys and values in a cache (CachedAttention), and each row reads the memory of its own
// source, so beams sharing a source share its memory (indexed, never copied). `reorder`
// makes row r continue row parents[r] (a beam search's survivors), caches included; the number
// of live rows may change with it (a search that starts from one row and keeps up to `rows`).
// A beam search's `step(tokens:parents:)` is `reorder(parents)` then `step(tokens:)`.
//
// The layers are the training ones (Seq2SeqLayers.swift) with a cache; the test
// Seq2SeqDecodingTests checks a step's logits against the teacher-forced forward's.
import Foundation
import GPTKernels

/// The encoder's output for a batch of sources, as each decoder layer's cross-attention reads it.
public final class Seq2SeqMemory {
    /// Sources encoded, and the padded length of each.
    public let sourceCount: Int, sourceLength: Int
    /// The source lengths: [sourceCount].
    public let lengths: [Int32]
    let lengthsBuffer: UnsafeMutablePointer<Int32>
    /// Per decoder layer, keys and values [sourceCount, sourceLength, 2C].
    let kv: [UnsafeMutablePointer<Float>]

    init(sourceCount: Int, sourceLength: Int, lengths: [Int32], layers: Int, channels: Int) {
        self.sourceCount = sourceCount; self.sourceLength = sourceLength; self.lengths = lengths
        let buffer = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, sourceCount))
        for (i, n) in lengths.enumerated() { buffer[i] = n }
        lengthsBuffer = buffer
        kv = (0..<layers).map { _ in GPT.allocate(sourceCount * sourceLength * 2 * channels) }
    }

    deinit {
        lengthsBuffer.deallocate()
        kv.forEach { $0.deallocate() }
    }
}

extension Seq2SeqTransformer {
    /// Runs the encoder once over `sources` (each 1...maxPositions tokens; padded to the longest)
    /// and projects the memory into every decoder layer's cross-attention keys and values.
    public func encode(sources: [[Int32]]) throws -> Seq2SeqMemory {
        let n = sources.count, s = sources.map(\.count).max() ?? 0, c = config.modelSize
        guard n >= 1 else { throw GPTError.shapeMismatch(expected: 1, got: 0, what: "sources (at least)") }
        for (row, source) in sources.enumerated() where source.isEmpty {
            throw Seq2SeqError.lengthOutOfRange(what: "source", row: row, length: 0, maximum: config.maxPositions)
        }
        var batch = Seq2SeqBatch(pairs: sources.map { (source: $0, target: [Int32]()) }, pad: Int32(config.padTokenId),
                                 bos: Int32(config.bosTokenId), eos: Int32(config.eosTokenId))
        batch.targets = []
        try check(batch)
        let what = "encoding \(n) sources of \(s) tokens"
        let memoryBytes = try Checked.product(config.decoderLayerCount, n, s, 2 * c, 4, what: what)
        try MemoryBudget.require(Checked.sum(config.activationBytes(batch: n, source: s, target: 1, threads: pool.threadCount),
                                             memoryBytes, config.parameterBytes, what: what), for: what)
        let a = Seq2SeqActivations(config: self.config, capacity: Seq2SeqActivations.Capacity(batch: n, source: s, target: 1)!,
                                   encoder: true, threads: pool.threadCount)
        batch.source.withUnsafeBufferPointer { a.sourceTokens.update(from: $0.baseAddress!, count: n * s) }
        batch.sourceLengths.withUnsafeBufferPointer { a.sourceLengths.update(from: $0.baseAddress!, count: n) }
        let training = isTraining
        isTraining = false
        defer { isTraining = training }
        encode(a, batch: n, source: s)
        let memory = Seq2SeqMemory(sourceCount: n, sourceLength: s, lengths: batch.sourceLengths,
                                   layers: config.decoderLayerCount, channels: c)
        for (l, w) in layout.decoderLayers.enumerated() {
            projectMemory(kv: memory.kv[l], memory: a.memory, layer: w, rows: n * s)
        }
        return memory
    }
}

/// Up to `rows` rows of decoding over an encoded memory, one token per live row per `step`.
public final class Seq2SeqDecoder {
    public let model: Seq2SeqTransformer
    public let memory: Seq2SeqMemory
    /// The most rows the decoder holds (its caches' size).
    public let rows: Int
    /// Rows live now: `rows` at first, then as many as the last `reorder` named.
    public private(set) var activeRows: Int
    /// The most tokens a row can take (at most the model's max_position_embeddings).
    public let maxLength: Int
    /// Tokens each row has taken so far.
    public private(set) var position = 0
    /// The source (index into the memory) each live row reads.
    public var sources: [Int] { (0..<activeRows).map { Int(sourceOf[$0]) } }

    private let capacity: Int
    private let sourceOf: UnsafeMutablePointer<Int32>
    private let keys, values: [UnsafeMutablePointer<Float>]
    private let spare: UnsafeMutablePointer<Float>
    private let activations: Seq2SeqActivations
    private let logitsBuffer: UnsafeMutablePointer<Float>

    /// Rows reading the sources `sources` (indices into `memory`; repeat one for beams of it),
    /// each able to take `maxLength` tokens.
    public init(model: Seq2SeqTransformer, memory: Seq2SeqMemory, sources: [Int], maxLength: Int) throws {
        let config = model.config, c = config.modelSize
        guard !sources.isEmpty else { throw GPTError.shapeMismatch(expected: 1, got: 0, what: "decoder rows (at least)") }
        for (row, s) in sources.enumerated() where !(0..<memory.sourceCount).contains(s) {
            throw GPTError.shapeMismatch(expected: memory.sourceCount, got: s, what: "source index of row \(row) (below)")
        }
        guard (1...config.maxPositions).contains(maxLength) else {
            throw Seq2SeqError.tooLong(what: "a decoding length", length: maxLength, maxPositions: config.maxPositions)
        }
        self.model = model; self.memory = memory; rows = sources.count; activeRows = rows; self.maxLength = maxLength
        capacity = CachedAttention.capacity(for: maxLength)
        let what = "a decoder cache of \(rows) rows × \(maxLength) tokens"
        let cacheFloats = try Checked.product(rows, c, capacity, what: what)
        guard let shape = Seq2SeqActivations.Capacity(batch: rows, source: memory.sourceLength, target: 1),
              let planned = Seq2SeqActivations.bytes(config: config, capacity: shape, encoder: false,
                                                     threads: model.pool.threadCount, cacheCapacity: capacity)
        else { throw MemoryError.overflow(what: what) }
        try MemoryBudget.require(Checked.sum(Checked.product(Checked.sum(Checked.product(2 * config.decoderLayerCount + 1, cacheFloats,
                                                                                         what: what),
                                                                         Checked.product(rows, config.vocabSize, what: what), what: what),
                                                         4, what: what), planned, what: what), for: what)
        sourceOf = .allocate(capacity: rows)
        for (r, s) in sources.enumerated() { sourceOf[r] = Int32(s) }
        keys = (0..<config.decoderLayerCount).map { _ in GPT.allocate(cacheFloats) }
        values = (0..<config.decoderLayerCount).map { _ in GPT.allocate(cacheFloats) }
        spare = GPT.allocate(cacheFloats)
        activations = Seq2SeqActivations(config: config, capacity: shape, encoder: false, threads: model.pool.threadCount,
                                         cacheCapacity: capacity)
        logitsBuffer = GPT.allocate(rows * config.vocabSize)
    }

    deinit {
        sourceOf.deallocate(); keys.forEach { $0.deallocate() }; values.forEach { $0.deallocate() }
        spare.deallocate(); logitsBuffer.deallocate()
    }

    /// Feeds one token per live row (at position `position`) and returns the logits of each row's
    /// next token: [activeRows, V], valid until the next call.
    public func step(tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        let config = model.config, c = config.modelSize, v = config.vocabSize, rows = activeRows
        guard tokens.count == rows else { throw GPTError.shapeMismatch(expected: rows, got: tokens.count, what: "decoder step tokens") }
        guard position < maxLength else { throw Seq2SeqError.tooLong(what: "decoding", length: position + 1, maxPositions: maxLength) }
        try tokens.withUnsafeBufferPointer { try GPT.checkTokens($0, vocabSize: v, ignoring: nil) }
        let a = activations
        tokens.withUnsafeBufferPointer { a.targetTokens.update(from: $0.baseAddress!, count: rows) }
        let cache = SelfAttentionCache(keys: keys, values: values, capacity: capacity,
                                       segments: CachedAttention.uniformSegments(batch: rows, newCount: 1, past: position))
        let cross = CrossInput(kv: memory.kv, keyLengths: memory.lengthsBuffer, keyBatch: sourceOf, keys: memory.sourceLength)
        let hidden = model.decode(a, tokens: a.targetTokens, batch: rows, target: 1, first: position, cross: cross, cache: cache)
        GEMM.multiply(logitsBuffer, ldc: v, hidden, lda: c, .normal, model.parameters + model.layout.targetEmbedding, ldb: c,
                      .transposed, m: rows, n: v, k: c, accumulate: false, pool: model.pool)
        position += 1
        return UnsafeBufferPointer(start: logitsBuffer, count: rows * v)
    }

    /// Row r continues what live row parents[r] has decoded (its cache and its source), for r in
    /// 0..<parents.count, which becomes the number of live rows (1...rows); for beam search.
    public func reorder(_ parents: [Int]) throws {
        guard (1...rows).contains(parents.count) else {
            throw GPTError.shapeMismatch(expected: rows, got: parents.count, what: "parents (1 to the decoder's rows)")
        }
        for (r, p) in parents.enumerated() where !(0..<activeRows).contains(p) {
            throw GPTError.shapeMismatch(expected: activeRows, got: p, what: "parent of row \(r) (below the live rows)")
        }
        // One row's cache: [NH, hs, capacity] or [NH, capacity, hs]; only the `position` cached
        // positions matter, but a whole slot is one contiguous copy.
        let slot = model.config.modelSize * capacity
        for cache in keys + values {
            spare.update(from: cache, count: activeRows * slot)
            for (r, p) in parents.enumerated() { (cache + r * slot).update(from: spare + p * slot, count: slot) }
        }
        let old = (0..<activeRows).map { sourceOf[$0] }
        for (r, p) in parents.enumerated() { sourceOf[r] = old[p] }
        activeRows = parents.count
    }
}
