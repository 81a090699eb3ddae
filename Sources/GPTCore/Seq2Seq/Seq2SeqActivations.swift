// Every buffer one forward + backward pass of the encoder–decoder Transformer needs, planned
// once from the config and a Capacity (the largest batch shapes seen) and carved out of one `Arena`, so a training step never
// allocates. A decoder step (Seq2SeqDecoder) plans the decoder's half for (M beams, 1 token)
// with the same type, without the encoder's buffers.
import GPTKernels

final class Seq2SeqActivations {
    /// What the buffers hold: the most rows, source and target positions (B·S, B·T) and attention
    /// scores (B·S·S, B·T·T, B·T·S) of any batch planned for, each on its own. Batches grouped under
    /// a token budget trade rows for length, so sizing by the largest B times the largest S would
    /// hold several times the floats any one batch uses.
    struct Capacity: Equatable {
        var rows = 0, sourceTokens = 0, targetTokens = 0
        var sourceScores = 0, targetScores = 0, crossScores = 0, longest = 0

        /// One batch of `batch` rows of `source` and `target` positions (source 0: a decoder without
        /// the encoder's buffers); nil if a product overflows `Int`.
        init?(batch: Int, source: Int, target: Int) {
            guard let ns = product(batch, source), let nt = product(batch, target), let ss = product(ns, source),
                  let tt = product(nt, target), let ts = product(nt, source) else { return nil }
            rows = batch; sourceTokens = ns; targetTokens = nt
            sourceScores = ss; targetScores = tt; crossScores = ts; longest = max(source, target)
        }

        init() {}

        func covers(_ other: Capacity) -> Bool {
            rows >= other.rows && sourceTokens >= other.sourceTokens && targetTokens >= other.targetTokens
                && sourceScores >= other.sourceScores && targetScores >= other.targetScores
                && crossScores >= other.crossScores && longest >= other.longest
        }

        /// The smallest capacity covering both.
        func union(_ other: Capacity) -> Capacity {
            var u = self
            u.rows = max(rows, other.rows); u.sourceTokens = max(sourceTokens, other.sourceTokens)
            u.targetTokens = max(targetTokens, other.targetTokens); u.sourceScores = max(sourceScores, other.sourceScores)
            u.targetScores = max(targetScores, other.targetScores); u.crossScores = max(crossScores, other.crossScores)
            u.longest = max(longest, other.longest)
            return u
        }
    }

    let capacity: Capacity
    let hasEncoder: Bool
    let arena: Arena

    /// One residual sub-layer: post-LN `norm = LN(input + dropout(branch))`, pre-LN
    /// `sum = input + dropout(branch(LN(input)))`; its output is `norm` (post-LN) or `sum` (pre-LN).
    struct Sublayer {
        var norm, mean, rstd, sum, branch: UnsafeMutablePointer<Float>  // [N, C], [N], [N], [N, C], [N, C]
    }
    /// One attention: projections (self: qkv [N, 3C]; cross: q [N, C] and kv [Nk, 2C]), the saved
    /// softmax att [B, NH, Tq, Tk] and the heads' output y [N, C].
    struct AttentionBuffers {
        var projected, kv, att, y: UnsafeMutablePointer<Float>
    }
    struct Layer {
        var attention: Sublayer, selfAttention: AttentionBuffers
        var cross: Sublayer?, crossAttention: AttentionBuffers?
        var feedForward: Sublayer
        var hidden, activated: UnsafeMutablePointer<Float>  // [N, F]: linear1's output, ReLU's (dropped out)
    }
    let sourceEmbedded: UnsafeMutablePointer<Float>    // [B·S, C]
    let targetEmbedded: UnsafeMutablePointer<Float>    // [B·T, C]
    let encoder: [Layer]
    let decoder: [Layer]
    let memory, memoryMean, memoryRstd: UnsafeMutablePointer<Float>     // encoder.norm: [B·S, C], [B·S], [B·S]
    let hidden, hiddenMean, hiddenRstd: UnsafeMutablePointer<Float>     // decoder.norm: [B·T, C], [B·T], [B·T]
    let logits: UnsafeMutablePointer<Float>            // [B·T, V]; dlogits in place after backward
    let losses: UnsafeMutablePointer<Float>            // [B·T]
    // Gradient scratch, shared by all layers: rows are max(B·S, B·T).
    let dX, dA, dB, dC: UnsafeMutablePointer<Float>    // [rows, C]
    let d3C: UnsafeMutablePointer<Float>               // [rows, 3C]
    let dF: UnsafeMutablePointer<Float>                // [rows, F]
    let dKV: UnsafeMutablePointer<Float>               // [B·S, 2C]
    let dMemory: UnsafeMutablePointer<Float>           // [B·S, C]
    let attentionScratch: UnsafeMutablePointer<Float>  // [threads, scratchFloats]
    let scratchFloats: Int

    let sourceTokens, targetTokens, targets: UnsafeMutablePointer<Int32>  // [B·S], [B·T], [B·T]
    let sourceLengths, targetLengths: UnsafeMutablePointer<Int32>        // [B], [B]

    /// Floats of attention scratch per worker: MaskedAttention over `longest` keys, and
    /// CachedAttention's 4 · capacity for a decoder step over `cacheCapacity` positions.
    static func scratchFloats(config: Seq2SeqConfig, longest: Int, cacheCapacity: Int) -> Int? {
        guard let cached = product(4, cacheCapacity), let padded = product(config.headSize + 1, longest + 32)
        else { return nil }
        return max(padded, cached)
    }

    /// Buffer sizes in floats, in carving order; nil if a size overflows `Int`.
    static func sizes(config: Seq2SeqConfig, capacity k: Capacity, encoder: Bool, threads: Int, cacheCapacity: Int = 0) -> [Int]? {
        let c = config.modelSize, f = config.feedForwardSize, nh = config.headCount, v = config.vocabSize
        let ns = encoder ? k.sourceTokens : 0, nt = k.targetTokens
        guard let nsc = product(ns, c), let ntc = product(nt, c), let nt3c = product(nt, 3, c), let ns3c = product(ns, 3, c),
              let nsf = product(ns, f), let ntf = product(nt, f), let ns2c = product(ns, 2, c),
              let attS = product(nh, encoder ? k.sourceScores : 0), let attT = product(nh, k.targetScores),
              let attX = product(nh, k.crossScores), let ntv = product(nt, v),
              let perWorker = scratchFloats(config: config, longest: k.longest, cacheCapacity: cacheCapacity),
              let scratch = product(threads, perWorker)
        else { return nil }
        let rows = max(ns, nt), rc = max(nsc, ntc)
        guard let r3c = product(rows, 3, c), let rf = product(rows, f) else { return nil }
        func sublayer(_ n: Int, _ nc: Int) -> [Int] { [nc, n, n, nc, nc] }
        var sizes = [nsc, ntc]
        for _ in 0..<(encoder ? config.encoderLayerCount : 0) {
            sizes += sublayer(ns, nsc) + [ns3c, 0, attS, nsc] + sublayer(ns, nsc) + [nsf, nsf]
        }
        for _ in 0..<config.decoderLayerCount {
            sizes += sublayer(nt, ntc) + [nt3c, 0, attT, ntc]
            sizes += sublayer(nt, ntc) + [ntc, encoder ? ns2c : 0, attX, ntc]
            sizes += sublayer(nt, ntc) + [ntf, ntf]
        }
        sizes += [nsc, ns, ns, ntc, nt, nt, ntv, nt]
        sizes += [rc, rc, rc, rc, r3c, rf, encoder ? ns2c : 0, nsc, scratch]
        return sizes
    }

    /// Bytes of the buffers for `capacity`, token arrays included; nil if it overflows `Int`.
    static func bytes(config: Seq2SeqConfig, capacity: Capacity, encoder: Bool, threads: Int, cacheCapacity: Int = 0) -> Int? {
        guard let sizes = sizes(config: config, capacity: capacity, encoder: encoder, threads: threads, cacheCapacity: cacheCapacity),
              let floats = Arena.paddedCount(sizes),
              let ids = product(4, capacity.sourceTokens + 2 * capacity.targetTokens + 2 * capacity.rows + 5) else { return nil }
        let (total, overflow) = floats.multipliedReportingOverflow(by: 4)
        return overflow || total > Int.max - ids ? nil : total + ids
    }

    /// `sizes(…)` must have been checked (`bytes` or the model's plan does).
    init(config: Seq2SeqConfig, capacity: Capacity, encoder hasEncoder: Bool, threads: Int, cacheCapacity: Int = 0) {
        self.capacity = capacity; self.hasEncoder = hasEncoder
        arena = Arena(Self.sizes(config: config, capacity: capacity, encoder: hasEncoder, threads: threads,
                                 cacheCapacity: cacheCapacity)!, zeroed: true)
        scratchFloats = Self.scratchFloats(config: config, longest: capacity.longest, cacheCapacity: cacheCapacity)!
        let take = arena.take
        func sublayer() -> Sublayer { Sublayer(norm: take(), mean: take(), rstd: take(), sum: take(), branch: take()) }
        func attention() -> AttentionBuffers { AttentionBuffers(projected: take(), kv: take(), att: take(), y: take()) }
        sourceEmbedded = take(); targetEmbedded = take()
        var encoder: [Layer] = []
        for _ in 0..<(hasEncoder ? config.encoderLayerCount : 0) {
            let a = sublayer(), sa = attention(), ff = sublayer()
            encoder.append(Layer(attention: a, selfAttention: sa, cross: nil, crossAttention: nil, feedForward: ff,
                                 hidden: take(), activated: take()))
        }
        var decoder: [Layer] = []
        for _ in 0..<config.decoderLayerCount {
            let a = sublayer(), sa = attention(), x = sublayer(), xa = attention(), ff = sublayer()
            decoder.append(Layer(attention: a, selfAttention: sa, cross: x, crossAttention: xa, feedForward: ff,
                                 hidden: take(), activated: take()))
        }
        self.encoder = encoder; self.decoder = decoder
        memory = take(); memoryMean = take(); memoryRstd = take()
        hidden = take(); hiddenMean = take(); hiddenRstd = take()
        logits = take(); losses = take()
        dX = take(); dA = take(); dB = take(); dC = take(); d3C = take(); dF = take(); dKV = take(); dMemory = take()
        attentionScratch = take()
        let ns = capacity.sourceTokens, nt = capacity.targetTokens
        sourceTokens = .allocate(capacity: max(1, ns)); targetTokens = .allocate(capacity: max(1, nt))
        targets = .allocate(capacity: max(1, nt))
        sourceLengths = .allocate(capacity: max(1, capacity.rows)); targetLengths = .allocate(capacity: max(1, capacity.rows))
    }

    deinit {
        sourceTokens.deallocate(); targetTokens.deallocate(); targets.deallocate()
        sourceLengths.deallocate(); targetLengths.deallocate()
    }
}
