// Checkpoints whose matrices are stored in bf16, f16 or q8_0, read and written in the
// Hugging Face GPT-2 directory layout (see HuggingFaceGPT2.swift).
//
// bf16 and f16 use safetensors' own BF16 and F16 dtypes under the usual names and shapes,
// so transformers loads such a file as it loads its own half-precision exports.
//
// q8_0 has no safetensors dtype. A matrix NAME (one of `InferenceWeights.isMatrix`), N
// outputs of K weights, K a multiple of 32, is stored as two tensors instead of NAME:
//
//   NAME.q8_0        I8        [N, K]       row n = output n's K weights (for a Conv1D weight,
//                                           stored [in, out] = [K, N] in fp32, the transpose)
//   NAME.q8_0_scale  F16 (F32) [N, K / 32]  the scale d of each block of 32 consecutive weights
//                                           of a row; weight = q · d (ggml's block_q8_0)
//
// and the file's `__metadata__` holds "q8_0_block_size": "32". The reader refuses a file
// where any of this does not hold (other block size, shapes, dtypes, one half missing, a
// tensor stored both ways), naming the tensor. Everything that is not such a matrix stays F32.
//
// Loading for training (fp32) upcasts every format; loading for inference at a lower
// precision builds each matrix's `WeightMatrix` straight from the file, tensor by tensor,
// so the fp32 pages of those tensors are never touched.
import Foundation
import GPTIO
import GPTKernels

public enum Q8Storage {
    public static let quantsSuffix = ".q8_0"
    public static let scaleSuffix = ".q8_0_scale"
    /// The metadata key that states the block size, and the only value read.
    public static let blockSizeKey = "q8_0_block_size"

    /// (NAME, whether it is the scale) for a stored q8_0 tensor's name; nil for other names.
    public static func split(_ stored: String) -> (base: String, isScale: Bool)? {
        if stored.hasSuffix(scaleSuffix) { return (String(stored.dropLast(scaleSuffix.count)), true) }
        if stored.hasSuffix(quantsSuffix) { return (String(stored.dropLast(quantsSuffix.count)), false) }
        return nil
    }

    /// Checks the pair stored for `base` against the layout tensor it replaces.
    static func check(_ file: SafeTensorsFile, base: String, tensor: ParameterTensor) throws {
        func refuse(_ reason: String) -> CheckpointError { .invalidQuantization(tensor: base, reason: reason) }
        guard file.metadata[blockSizeKey] == "\(WeightFormat.q8BlockSize)" else {
            throw refuse("the file's metadata gives \(blockSizeKey) = \(file.metadata[blockSizeKey].map { "'\($0)'" } ?? "nothing"); only \(WeightFormat.q8BlockSize) is read")
        }
        let (n, k, _) = InferenceWeights.matrixShape(of: tensor)
        guard k % WeightFormat.q8BlockSize == 0 else { throw refuse("rows of \(k) weights are not whole blocks of \(WeightFormat.q8BlockSize)") }
        guard let quants = file[base + quantsSuffix], let scale = file[base + scaleSuffix] else {
            throw refuse("needs both \(base + quantsSuffix) and \(base + scaleSuffix)")
        }
        guard quants.dtype == .i8, quants.shape == [n, k] else {
            throw refuse("\(quants.name) must be I8 [\(n), \(k)], found \(quants.dtype.rawValue) \(quants.shape)")
        }
        guard scale.dtype == .f16 || scale.dtype == .f32, scale.shape == [n, k / WeightFormat.q8BlockSize] else {
            throw refuse("\(scale.name) must be F16 or F32 [\(n), \(k / WeightFormat.q8BlockSize)], found \(scale.dtype.rawValue) \(scale.shape)")
        }
        let bare = base.hasPrefix("transformer.") ? String(base.dropFirst("transformer.".count)) : base
        guard file[bare] == nil, file["transformer." + bare] == nil else {
            throw refuse("stored both as q8_0 and unquantized")
        }
    }
}

extension HuggingFaceGPT2 {
    /// The format the file stores its matrices in, read from the token embedding: what
    /// `gpt sample|eval|serve` use when no --dtype is given.
    public static func storedWeightFormat(_ file: SafeTensorsFile) -> WeightFormat {
        for prefix in ["transformer.", ""] {
            let name = prefix + "wte.weight"
            if file[name + Q8Storage.quantsSuffix] != nil { return .q8_0 }
            switch file[name]?.dtype {
            case .bf16?: return .bf16
            case .f16?: return .f16
            case nil: continue
            default: return .fp32
            }
        }
        return .fp32
    }

    /// Reads every stored tensor of `model`'s layout; matrices that `format` holds become its
    /// `InferenceWeights`, built from the file without an fp32 copy; the rest are upcast to fp32.
    /// Names and shapes have been checked (`checkWeights`).
    static func readTensors(_ file: SafeTensorsFile, into model: GPT, includeHead: Bool, format: WeightFormat) throws {
        var matrices: [Int: WeightMatrix] = [:]
        for entry in file.entries {
            let q8 = Q8Storage.split(entry.name)
            if q8?.isScale == true { continue }
            guard let name = layoutName(q8?.base ?? entry.name, in: model.layout, includeHead: includeHead),
                  let tensor = model.layout[name] else { continue }
            // (N, K, stored layout) for a matrix; never read for other tensors.
            let (n, k, storage) = tensor.shape.count == 2 ? InferenceWeights.matrixShape(of: tensor) : (rows: 0, columns: 0, layout: MatrixLayout.normal)
            if let q8 {
                let scaleEntry = file[q8.base + Q8Storage.scaleSuffix]!
                try file.withUnsafeRawBytes(of: entry.name) { quants in
                    try file.withUnsafeRawBytes(of: scaleEntry.name) { scaleBytes in
                        let blocks = k / WeightFormat.q8BlockSize
                        func scale(_ r: Int, _ b: Int) -> Float { element(scaleBytes, scaleEntry.dtype, r * blocks + b) }
                        for i in 0..<(n * blocks) where !(scale(i / blocks, i % blocks)).isFinite {
                            throw CheckpointError.nonFiniteWeight(tensor: scaleEntry.name, index: i, value: scale(i / blocks, i % blocks))
                        }
                        if format == .q8_0 {
                            matrices[tensor.offset] = try WeightMatrix(q8_0: quants.baseAddress!, rows: n, columns: k, scale: scale)
                            return
                        }
                        func weight(_ r: Int, _ p: Int) -> Float {
                            Float(quants.load(fromByteOffset: r * k + p, as: Int8.self)) * scale(r, p / WeightFormat.q8BlockSize)
                        }
                        if InferenceWeights.holds(format, tensor) {
                            matrices[tensor.offset] = try WeightMatrix(format: format, rows: n, columns: k, what: entry.name) { r, out in
                                for p in 0..<k { out[p] = weight(r, p) }
                            }
                        } else {
                            // Back to the fp32 tensor's own layout: [K, N] for Conv1D, [N, K] for the embedding.
                            let out = model.parameters + tensor.offset
                            for r in 0..<n { for p in 0..<k { out[storage == .normal ? p * n + r : r * k + p] = weight(r, p) } }
                        }
                    }
                }
            } else if InferenceWeights.holds(format, tensor) {
                try file.withUnsafeRawBytes(of: entry.name) { raw in
                    matrices[tensor.offset] = try WeightMatrix(format: format, rows: n, columns: k, what: entry.name) { r, out in
                        for p in 0..<k {
                            let index = storage == .normal ? p * n + r : r * k + p
                            let x = element(raw, entry.dtype, index)
                            guard x.isFinite else { throw CheckpointError.nonFiniteWeight(tensor: entry.name, index: index, value: x) }
                            out[p] = x
                        }
                    }
                }
            } else {
                let values = try file.floats(entry.name)
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw CheckpointError.nonFiniteWeight(tensor: entry.name, index: bad, value: values[bad])
                }
                (model.parameters + tensor.offset).update(from: values, count: tensor.count)
            }
            file.releasePages(of: entry.name)
            if let q8 { file.releasePages(of: q8.base + Q8Storage.scaleSuffix) }
        }
        if format != .fp32 { model.inferenceWeights = InferenceWeights(format: format, matrices: matrices) }
    }

    /// Element `i` of a floating-point tensor's bytes (dtype checked by the caller: F32, F64, F16 or BF16).
    @inline(__always)
    static func element(_ raw: UnsafeRawBufferPointer, _ dtype: SafeTensorsDType, _ i: Int) -> Float {
        switch dtype {
        case .f32: return Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)
        case .f16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian))
        case .bf16: return WeightFormat.floatFromBF16(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)
        case .f64: return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian))
        default: return .nan
        }
    }

    /// Adds `tensor` of `model` to `writer` under `name` in `format` (a matrix it holds; see the file header).
    static func addEncoded(_ writer: inout SafeTensorsWriter, _ name: String, _ tensor: ParameterTensor, of model: GPT,
                           format: WeightFormat) throws {
        let values = UnsafePointer(model.parameters + tensor.offset)
        switch format {
        case .bf16, .f16:
            var bits = [UInt16](repeating: 0, count: tensor.count)
            for i in 0..<tensor.count {
                if format == .bf16 {
                    bits[i] = WeightFormat.bf16Bits(values[i])
                } else {
                    let h = Float16(values[i])
                    guard h.isFinite else {
                        throw WeightFormatError.outOfRange(format: .f16, value: values[i], row: i / tensor.shape[1], what: tensor.name)
                    }
                    bits[i] = h.bitPattern.littleEndian
                }
            }
            bits.withUnsafeBytes { writer.add(name, bytes: $0, dtype: format == .bf16 ? .bf16 : .f16, shape: tensor.shape) }
        case .q8_0:
            let (n, k, storage) = InferenceWeights.matrixShape(of: tensor)
            let matrix = try WeightMatrix(format: .q8_0, converting: values, layout: storage, rows: n, columns: k, what: tensor.name)
            matrix.storedValues.withUnsafeBytes { writer.add(name + Q8Storage.quantsSuffix, bytes: $0, dtype: .i8, shape: [n, k]) }
            let scales = matrix.storedScales.map { Float16($0).bitPattern.littleEndian }  // f16 values already: exact
            scales.withUnsafeBytes {
                writer.add(name + Q8Storage.scaleSuffix, bytes: $0, dtype: .f16, shape: [n, k / WeightFormat.q8BlockSize])
            }
            writer.metadata[Q8Storage.blockSizeKey] = "\(WeightFormat.q8BlockSize)"
        case .fp32:
            writer.add(name, floats: UnsafeBufferPointer(start: values, count: tensor.count), shape: tensor.shape)
        }
    }
}
