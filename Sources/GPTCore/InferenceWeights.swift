// The seam between the model and its lower-precision weights: when a model holds
// `InferenceWeights`, its linear layers, token embedding and LM head read these matrices
// (bf16, f16 or q8_0, through `WeightMatrixGEMM`) instead of the fp32 parameters, whose
// pages for those tensors are given back to the system. Inference only: training keeps
// fp32 master weights, and `backward` refuses a model in this state.
//
// Which tensors: the four matrices of every block (c_attn, attn.c_proj, c_fc, mlp.c_proj)
// and the token embedding, which is also the tied LM head (31 % of GPT-2 124M's weights,
// read whole for every token's logits). LayerNorm gains, biases, the position table and a
// classifier's head stay fp32: together under 1 % of the weights, and read once per token
// or less. A matrix whose reduction dimension is not a multiple of 32 stays fp32 (q8_0 blocks
// and the 16-bit formats' interleaved groups are 32 wide).
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GPTIO
import GPTKernels

public final class InferenceWeights {
    public let format: WeightFormat
    /// By the fp32 tensor's offset in the model's `ParameterLayout`.
    let matrices: [Int: WeightMatrix]

    init(format: WeightFormat, matrices: [Int: WeightMatrix]) {
        self.format = format
        self.matrices = matrices
    }

    /// The matrix held for the tensor at `offset`, if any.
    public func matrix(at offset: Int) -> WeightMatrix? { matrices[offset] }

    /// Whether the layout tensor `name` is one that is held in a lower precision for inference.
    public static func isMatrix(_ name: String) -> Bool {
        name == "wte.weight" || name.hasSuffix(".attn.c_attn.weight") || name.hasSuffix(".attn.c_proj.weight")
            || name.hasSuffix(".mlp.c_fc.weight") || name.hasSuffix(".mlp.c_proj.weight")
    }

    /// A matrix tensor as `WeightMatrix` sees it: N outputs of K weights, and how the fp32 tensor
    /// holds them (`.normal`: [K, N], GPT-2's Conv1D [in, out]; `.transposed`: [N, K], the embedding).
    public static func matrixShape(of tensor: ParameterTensor) -> (rows: Int, columns: Int, layout: MatrixLayout) {
        tensor.name == "wte.weight" ? (tensor.shape[0], tensor.shape[1], .transposed) : (tensor.shape[1], tensor.shape[0], .normal)
    }

    /// Whether `format` holds `tensor` (a matrix whose rows are whole groups of 32).
    public static func holds(_ format: WeightFormat, _ tensor: ParameterTensor) -> Bool {
        format != .fp32 && isMatrix(tensor.name) && format.holds(reduction: matrixShape(of: tensor).columns)
    }
}

extension GPT {
    /// Converts the matrices (see `InferenceWeights`) from the fp32 parameters to `format` for
    /// inference and gives the fp32 copies' memory back; `.fp32` does nothing. A model that already
    /// holds a lower precision is refused (convert from fp32 once).
    public func useWeights(_ format: WeightFormat) throws {
        guard format != .fp32 else { return }
        guard inferenceWeights == nil else { throw GPTError.inferenceOnlyWeights(format: inferenceWeights!.format.rawValue) }
        var matrices: [Int: WeightMatrix] = [:]
        for tensor in layout.tensors where InferenceWeights.holds(format, tensor) {
            let (n, k, storage) = InferenceWeights.matrixShape(of: tensor)
            matrices[tensor.offset] = try WeightMatrix(format: format, converting: parameters + tensor.offset, layout: storage,
                                                       rows: n, columns: k, what: tensor.name)
            releaseParameters(offset: tensor.offset, count: tensor.count)
        }
        inferenceWeights = InferenceWeights(format: format, matrices: matrices)
    }

    /// Bytes of weights one decoded token reads: every lower-precision matrix and every fp32 parameter
    /// except the position table (one row of it per token).
    public var decodeWeightBytes: Int {
        var bytes = 0
        for tensor in layout.tensors where tensor.name != "wpe.weight" {
            bytes += inferenceWeights?.matrix(at: tensor.offset)?.byteCount ?? 4 * tensor.count
        }
        return bytes
    }

    /// out: [N, OC] = inp: [N, C] · W + bias, W the layout tensor at `weight` ([C, OC] in fp32),
    /// read from its lower-precision copy when the model holds one.
    func linearForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: Int, bias: UnsafePointer<Float>?,
                       rows n: Int, inChannels c: Int, outChannels oc: Int) {
        guard let matrix = inferenceWeights?.matrix(at: weight) else {
            Linear.forward(out: out, inp: inp, weight: parameters + weight, bias: bias,
                           rows: n, inChannels: c, outChannels: oc, pool: pool)
            return
        }
        if let bias {
            pool.parallelFor(n) { range in for row in range { (out + row * oc).update(from: bias, count: oc) } }
        }
        WeightMatrixGEMM.multiply(out, ldc: oc, inp, lda: c, matrix, m: n, accumulate: bias != nil, pool: pool)
    }

    /// The tied LM head: logits: [N, V] = hidden: [N, C] · wte[V, C]ᵀ.
    func languageModelHead(logits: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, rows n: Int) {
        let c = config.embeddingSize, v = config.vocabSize
        if let matrix = inferenceWeights?.matrix(at: layout.wte) {
            WeightMatrixGEMM.multiply(logits, ldc: v, hidden, lda: c, matrix, m: n, accumulate: false, pool: pool)
        } else {
            GEMM.multiply(logits, ldc: v, hidden, lda: c, .normal, parameters + layout.wte, ldb: c, .transposed,
                          m: n, n: v, k: c, accumulate: false, pool: pool)
        }
    }

    /// Token + position embedding of `tokens` ([B, T]) into `out` ([B, T, C]), wpe already offset to the first position.
    func embed(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, wpe: UnsafePointer<Float>, batch: Int, seq: Int) {
        let c = config.embeddingSize
        if let matrix = inferenceWeights?.matrix(at: layout.wte) {
            Embedding.forward(out: out, tokens: tokens, wte: matrix, wpe: wpe, batch: batch, seq: seq, channels: c, pool: pool)
        } else {
            Embedding.forward(out: out, tokens: tokens, wte: parameters + layout.wte, wpe: wpe,
                              batch: batch, seq: seq, channels: c, pool: pool)
        }
    }

    /// Zeroes parameters[offset..<offset+count] and returns its whole pages to the system
    /// (they read as zero until written: `parameters` is an anonymous mapping).
    func releaseParameters(offset: Int, count: Int) {
        let start = UnsafeMutableRawPointer(parameters + offset), end = start + count * 4
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page, last = Int(bitPattern: end) / page * page
        guard first < last, let firstPage = UnsafeMutableRawPointer(bitPattern: first) else {
            start.initializeMemory(as: UInt8.self, repeating: 0, count: count * 4)
            return
        }
        start.initializeMemory(as: UInt8.self, repeating: 0, count: first - Int(bitPattern: start))
        firstPage.advanced(by: last - first).initializeMemory(as: UInt8.self, repeating: 0, count: Int(bitPattern: end) - last)
        madvise(firstPage, last - first, MADV_DONTNEED)
    }
}
