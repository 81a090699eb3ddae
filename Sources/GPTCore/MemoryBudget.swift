// What a model costs in memory, computed from its config with checked arithmetic
// before anything is allocated, and the check against this machine's memory that
// every allocation of model-sized buffers goes through (GPT.init, its activation
// plan, InferenceSession). Sizes read from files or options are multiplied here,
// never trusted: an overflow is an error, not a trap.
import Foundation
import GPTKernels

public enum MemoryError: Error, CustomStringConvertible, Equatable {
    /// A size whose product overflows a 64-bit integer.
    case overflow(what: String)
    /// More bytes than the machine (or this process's cgroup) has.
    case exceedsMemory(what: String, bytes: Int, available: Int)

    public var description: String {
        switch self {
        case let .overflow(what): return "\(what): the size overflows 64-bit arithmetic"
        case let .exceedsMemory(what, bytes, available):
            return "\(what) needs \(MemoryBudget.gigabytes(bytes)) GB, more than this machine's \(MemoryBudget.gigabytes(available)) GB of memory"
        }
    }
}

public enum MemoryBudget {
    /// Physical memory, or the process's cgroup memory limit where that is lower.
    public static var physicalBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        var bytes = Int.max
        if pages > 0 && pageSize > 0 {
            let (product, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            if !overflow { bytes = product }
        }
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
                bytes = min(bytes, limit)
            }
        }
        return bytes
    }

    /// Refuses, with both figures in GB, when `bytes` exceeds physical memory.
    public static func require(_ bytes: Int, for what: String) throws {
        let available = physicalBytes
        guard bytes <= available else { throw MemoryError.exceedsMemory(what: what, bytes: bytes, available: available) }
    }

    static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e9) }
}

/// Checked arithmetic for sizes: the product or sum, or `MemoryError.overflow` naming `what`.
enum Checked {
    static func product(_ factors: Int..., what: String) throws -> Int {
        var result = 1
        for f in factors {
            let (r, overflow) = result.multipliedReportingOverflow(by: f)
            if overflow || f < 0 { throw MemoryError.overflow(what: what) }
            result = r
        }
        return result
    }

    static func sum(_ terms: Int..., what: String) throws -> Int {
        var result = 0
        for t in terms {
            let (r, overflow) = result.addingReportingOverflow(t)
            if overflow || t < 0 { throw MemoryError.overflow(what: what) }
            result = r
        }
        return result
    }
}

extension GPTConfig {
    /// Floats in the parameter layout (wte, wpe if learned, the blocks, ln_f): ParameterLayout's
    /// count, computed with checked arithmetic from the fields alone.
    public func parameterCount() throws -> Int {
        let what = "the parameters of this config"
        let c = embeddingSize, b = bias ? 1 : 0
        // Per block: ln_1, ln_2 gains 2C; c_attn 3C², c_proj C², c_fc 4C², mlp c_proj 4C²;
        // biases 2C (LayerNorms) + 3C + C + 4C + C.
        let block = try Checked.sum(Checked.product(12, c, c, what: what), Checked.product(2 + 11 * b, c, what: what), what: what)
        return try Checked.sum(Checked.product(vocabSize, c, what: what),
                               Checked.product(positions == .learned ? contextLength : 0, c, what: what),
                               Checked.product(layerCount, block, what: what),
                               Checked.product(1 + b, c, what: what), what: what)
    }

    /// Bytes of the parameters, plus the position table of sinusoidal encodings: what `GPT.init` allocates.
    public var parameterBytes: Int {
        get throws {
            let what = "the parameters of this config"
            let table = positions == .sinusoidal ? try Checked.product(contextLength, embeddingSize, what: what) : 0
            return try Checked.product(Checked.sum(parameterCount(), table, what: what), 4, what: what)
        }
    }

    /// Bytes of activations for one forward + backward pass of `batch` × `seq` tokens.
    func activationBytes(batch: Int, seq: Int, threads: Int, logits: Bool = true) throws -> Int {
        let what = "activations for batch \(batch) × \(seq) tokens"
        guard batch >= 0, seq >= 0, let sizes = Activations.sizes(config: self, batch: batch, seq: seq, threads: threads, logits: logits),
              let floats = Arena.paddedCount(sizes) else { throw MemoryError.overflow(what: what) }
        // The token and target ids beside the floats.
        return try Checked.sum(Checked.product(floats, 4, what: what), Checked.product(batch, seq, 8, what: what), what: what)
    }

    /// Bytes a training step of `batch` × `seq` tokens needs: parameters, gradients and AdamW's two
    /// moments (four copies of the layout), plus the activations; with `gradientStash`, a fifth copy
    /// (ordered accumulation's running sum of the micro-batches' gradients).
    public func trainingBytes(batch: Int, seq: Int, threads: Int = ThreadPool.coreCount, gradientStash: Bool = false) throws -> Int {
        let what = "training batch \(batch) × \(seq) tokens"
        return try Checked.sum(parameterBytes, Checked.product(parameterCount(), (gradientStash ? 4 : 3) * 4, what: what),
                               activationBytes(batch: batch, seq: seq, threads: threads), what: what)
    }

    /// Bytes generation with `batch` sequences needs: parameters plus an InferenceSession (KV cache
    /// for the full context, working buffers).
    public func inferenceBytes(batch: Int, threads: Int = ThreadPool.coreCount) throws -> Int {
        try Checked.sum(parameterBytes, sessionBytes(batch: batch, threads: threads), what: "generation of \(batch) sequences")
    }

    func sessionBytes(batch: Int, rows: Int? = nil, threads: Int) throws -> Int {
        let what = "a KV cache for \(batch) sequences of \(contextLength) tokens"
        guard batch >= 0, let sizes = InferenceSession.sizes(config: self, batch: batch, rows: rows, threads: threads),
              let floats = Arena.paddedCount(sizes) else { throw MemoryError.overflow(what: what) }
        return try Checked.product(floats, 4, what: what)
    }
}
