// A weight matrix held in bf16, f16 or q8_0 for inference: W[N, K], N outputs of K weights
// each (for GPT-2's Conv1D weights, stored [in, out], the transpose of the checkpoint tensor).
//
// In memory the matrix is kept in the order the GEMM streams it (`WeightMatrixGEMM`): panels of
// 32 outputs, and inside a panel, for each reduction index p in order, the panel's 32 weights of
// that p — the packed-B layout of the fp32 GEMM (`GEMM.packB`), at 16 or 8 bits. So decoding
// reads each weight once, contiguously, and the prefill widens a panel block into GEMM's own
// packed buffer with loads and shifts only. The last panel is padded with zero weights (and zero
// scales). Within the 32 weights of one step, lanes are interleaved so that one 64-byte load
// widens to the two 16-lane vectors of outputs 0…15 and 16…31 by shifts and masks alone (Swift's
// generic SIMD conversions compile to out-of-line calls that spill every accumulator):
//   bf16, f16: [panels][K][32 × 16 bits]; 32-bit lane l of a step holds output l (low half) and
//              output 16 + l (high half).
//   q8_0:      [panels][K / 2][64 bytes]: steps p and p + 1 (p even) share 64 bytes; 32-bit lane l
//              holds, from its low byte up, output l at p, 16 + l at p, l at p + 1, 16 + l at p + 1,
//              each as q + 128 (an unsigned byte, so widening is a shift, a mask and an OR into
//              the mantissa of 2²³). Scales: [panels][K / 32][32] Float (f16 values), one per
//              output and block.
// Files keep ggml's row-major layout ([N, K] bytes, [N, K / 32] scales): `storedValues` and
// `storedScales` give it back. The memory is owned, 64-byte aligned, and never changes after init.

public final class WeightMatrix: @unchecked Sendable {
    // @unchecked: the storage is written only in init.

    public let format: WeightFormat
    /// N, outputs.
    public let rows: Int
    /// K, the reduction dimension.
    public let columns: Int
    /// Outputs per panel (GEMM's NR).
    static let panelWidth = 32
    /// ⌈N / 32⌉.
    let panels: Int
    /// The panels (see the file header): UInt16 lanes for bf16 and f16 bits, biased bytes for q8_0.
    let values: UnsafeMutableRawPointer
    /// q8_0 only: [panels][K / 32][32] block scales (f16 values, held as Float).
    let scales: UnsafeMutablePointer<Float>?

    private init(format: WeightFormat, rows: Int, columns: Int, what: String) throws {
        precondition(format != .fp32, "an fp32 matrix is the model's own parameters")
        precondition(rows >= 0 && columns >= 0)
        guard format.holds(reduction: columns) else {
            throw WeightFormatError.cannotHold(format: format, reduction: columns, what: what)
        }
        self.format = format; self.rows = rows; self.columns = columns
        panels = (rows + Self.panelWidth - 1) / Self.panelWidth
        let padded = panels * Self.panelWidth
        let elementBytes = format == .q8_0 ? 1 : 2
        let byteCount = max(1, padded * columns * elementBytes)
        values = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        // Padding outputs hold zero weights: bf16/f16 bits 0, q8_0 the biased byte of q = 0.
        values.initializeMemory(as: UInt8.self, repeating: format == .q8_0 ? 0x80 : 0, count: byteCount)
        if format == .q8_0 {
            let count = max(1, padded * columns / WeightFormat.q8BlockSize)
            scales = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            scales!.initialize(repeating: 0, count: count)
        } else {
            scales = nil
        }
    }

    deinit { values.deallocate(); scales?.deallocate() }

    /// Element index of weight (n, p) of a 16-bit matrix, in UInt16 units.
    @inline(__always)
    func slot16(_ n: Int, _ p: Int) -> Int {
        let i = n & 31
        return ((n >> 5) * columns + p) * 32 + (i < 16 ? 2 * i : 2 * (i - 16) + 1)
    }

    /// Byte index of weight (n, p) of a q8_0 matrix.
    @inline(__always)
    func slot8(_ n: Int, _ p: Int) -> Int {
        let i = n & 31
        return ((n >> 5) * columns + (p & ~1)) * 32 + 4 * (i & 15) + 2 * (p & 1) + (i >> 4)
    }

    /// Index of the scale of block b of output n.
    @inline(__always)
    func scaleSlot(_ n: Int, _ b: Int) -> Int {
        ((n >> 5) * (columns / WeightFormat.q8BlockSize) + b) * 32 + (n & 31)
    }

    /// Bytes of weights (and scales) read by one pass over the matrix.
    public var byteCount: Int { rows * format.bytes(count: columns) }

    /// Encodes row by row: `row(n, buffer)` writes row n's K fp32 weights into `buffer`, which are then
    /// rounded into `format`. `what` names the tensor in errors (a value f16 or q8_0 cannot hold).
    public convenience init(format: WeightFormat, rows n: Int, columns k: Int, what: String,
                            row: (Int, UnsafeMutablePointer<Float>) throws -> Void) throws {
        try self.init(format: format, rows: n, columns: k, what: what)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k))
        defer { buffer.deallocate() }
        for r in 0..<n {
            try row(r, buffer)
            switch format {
            case .bf16:
                let out = values.assumingMemoryBound(to: UInt16.self)
                for p in 0..<k { out[slot16(r, p)] = WeightFormat.bf16Bits(buffer[p]) }
            case .f16:
                let out = values.assumingMemoryBound(to: Float16.self)
                for p in 0..<k {
                    let h = Float16(buffer[p])
                    guard h.isFinite || !buffer[p].isFinite else {
                        throw WeightFormatError.outOfRange(format: .f16, value: buffer[p], row: r, what: what)
                    }
                    out[slot16(r, p)] = h
                }
            case .q8_0:
                let blocks = k / WeightFormat.q8BlockSize
                for b in 0..<blocks {
                    let x = buffer + b * WeightFormat.q8BlockSize
                    var largest: Float = 0
                    for i in 0..<WeightFormat.q8BlockSize { largest = max(largest, abs(x[i])) }
                    guard let d = WeightFormat.q8Scale(maxMagnitude: largest) else {
                        throw WeightFormatError.outOfRange(format: .q8_0, value: largest, row: r, what: what)
                    }
                    scales![scaleSlot(r, b)] = d
                    for i in 0..<WeightFormat.q8BlockSize {
                        storeQ8(WeightFormat.q8Quantize(x[i], scale: d), r, b * WeightFormat.q8BlockSize + i)
                    }
                }
            case .fp32: fatalError("unreachable: refused above")
            }
        }
    }

    @inline(__always)
    private func storeQ8(_ q: Int8, _ n: Int, _ p: Int) {
        values.storeBytes(of: UInt8(bitPattern: q) ^ 0x80, toByteOffset: slot8(n, p), as: UInt8.self)
    }

    @inline(__always)
    private func loadQ8(_ n: Int, _ p: Int) -> Int8 {
        Int8(bitPattern: values.load(fromByteOffset: slot8(n, p), as: UInt8.self) ^ 0x80)
    }

    /// From fp32 weights: `source` is [K, N] for `.normal` (GPT-2's Conv1D layout, [in, out]) or [N, K]
    /// for `.transposed` (the embedding, [vocab, channels]) — the layout GEMM's B operand would have.
    public convenience init(format: WeightFormat, converting source: UnsafePointer<Float>, layout: MatrixLayout,
                            rows n: Int, columns k: Int, what: String) throws {
        try self.init(format: format, rows: n, columns: k, what: what) { r, out in
            switch layout {
            case .transposed: out.update(from: source + r * k, count: k)
            case .normal: for p in 0..<k { out[p] = source[p * n + r] }
            }
        }
    }

    /// q8_0 as stored in a file: `quants` [N, K] signed bytes and `scale(n, b)` the scale of row n's block b.
    public convenience init(q8_0 quants: UnsafeRawPointer, rows n: Int, columns k: Int,
                            scale: (Int, Int) -> Float) throws {
        try self.init(format: .q8_0, rows: n, columns: k, what: "q8_0 weights")
        let blocks = k / WeightFormat.q8BlockSize
        for r in 0..<n {
            for p in 0..<k { storeQ8(quants.load(fromByteOffset: r * k + p, as: Int8.self), r, p) }
            for b in 0..<blocks { scales![scaleSlot(r, b)] = scale(r, b) }
        }
    }

    /// Row n's weights as fp32 (exact for bf16 and f16; q · d for q8_0, the product the GEMM forms): out [K].
    public func widenRow(_ n: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(n >= 0 && n < rows)
        let k = columns
        switch format {
        case .bf16:
            let src = values.assumingMemoryBound(to: UInt16.self)
            for p in 0..<k { out[p] = WeightFormat.floatFromBF16(src[slot16(n, p)]) }
        case .f16:
            let src = values.assumingMemoryBound(to: Float16.self)
            for p in 0..<k { out[p] = Float(src[slot16(n, p)]) }
        case .q8_0:
            for p in 0..<k { out[p] = Float(loadQ8(n, p)) * scales![scaleSlot(n, p / WeightFormat.q8BlockSize)] }
        case .fp32: fatalError("unreachable")
        }
    }

    /// The stored weights in file order, row-major [N, K]: Int8 bytes for q8_0, little-endian
    /// 16-bit patterns for bf16 and f16.
    public var storedValues: [UInt8] {
        let n = rows, k = columns
        switch format {
        case .q8_0:
            var out = [UInt8](repeating: 0, count: n * k)
            for r in 0..<n { for p in 0..<k { out[r * k + p] = UInt8(bitPattern: loadQ8(r, p)) } }
            return out
        case .bf16, .f16:
            var out = [UInt8](repeating: 0, count: 2 * n * k)
            let src = values.assumingMemoryBound(to: UInt16.self)
            for r in 0..<n {
                for p in 0..<k {
                    let bits = src[slot16(r, p)]
                    out[2 * (r * k + p)] = UInt8(truncatingIfNeeded: bits)
                    out[2 * (r * k + p) + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                }
            }
            return out
        case .fp32: fatalError("unreachable")
        }
    }

    /// q8_0's scales in file order, [N, K / 32]; empty for the 16-bit formats.
    public var storedScales: [Float] {
        guard scales != nil else { return [] }
        let blocks = columns / WeightFormat.q8BlockSize
        var out = [Float](repeating: 0, count: rows * blocks)
        for r in 0..<rows { for b in 0..<blocks { out[r * blocks + b] = scales![scaleSlot(r, b)] } }
        return out
    }
}
