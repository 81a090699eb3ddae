// A weight matrix held in bf16, f16 or q8_0 for inference: W[N, K], one row per output,
// each row the K weights that are summed against an input row (ggml's layout; for
// GPT-2's Conv1D weights, stored [in, out], the transpose of the checkpoint tensor).
// Rows along K keep q8_0's blocks and every 16-bit row contiguous for the dot products of
// `WeightMatrixGEMM`. The memory is owned, 64-byte aligned, and never changes after init.

public final class WeightMatrix: @unchecked Sendable {
    // @unchecked: the storage is written only in init.

    public let format: WeightFormat
    /// N, outputs.
    public let rows: Int
    /// K, the reduction dimension.
    public let columns: Int
    /// [N, K] of UInt16 (bf16 bits), Float16 or Int8, by format.
    let values: UnsafeMutableRawPointer
    /// q8_0 only: [N, K / 32] block scales (f16 values, held as Float).
    let scales: UnsafeMutablePointer<Float>?

    private init(format: WeightFormat, rows: Int, columns: Int, what: String) throws {
        precondition(format != .fp32, "an fp32 matrix is the model's own parameters")
        precondition(rows >= 0 && columns >= 0)
        guard format.holds(reduction: columns) else {
            throw WeightFormatError.cannotHold(format: format, reduction: columns, what: what)
        }
        self.format = format; self.rows = rows; self.columns = columns
        let elementBytes = format == .q8_0 ? 1 : 2
        values = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * columns * elementBytes), alignment: 64)
        if format == .q8_0 {
            let count = max(1, rows * columns / WeightFormat.q8BlockSize)
            scales = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        } else {
            scales = nil
        }
    }

    deinit { values.deallocate(); scales?.deallocate() }

    /// Where weight p of a 16-bit row is stored: each group of 32 is interleaved, p and p + 16 side by
    /// side, so one 64-byte load holds 16 lanes of two weights each and widening both halves is a shift
    /// or a mask (no lane shuffle, no conversion call).
    @inline(__always)
    static func slot(_ p: Int) -> Int {
        let o = p & 31
        return (p & ~31) + (o < 16 ? 2 * o : 2 * (o - 16) + 1)
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
                let out = values.assumingMemoryBound(to: UInt16.self) + r * k
                for p in 0..<k { out[Self.slot(p)] = WeightFormat.bf16Bits(buffer[p]) }
            case .f16:
                let out = values.assumingMemoryBound(to: Float16.self) + r * k
                for p in 0..<k {
                    let h = Float16(buffer[p])
                    guard h.isFinite || !buffer[p].isFinite else {
                        throw WeightFormatError.outOfRange(format: .f16, value: buffer[p], row: r, what: what)
                    }
                    out[Self.slot(p)] = h
                }
            case .q8_0:
                let out = values.assumingMemoryBound(to: Int8.self) + r * k
                let blocks = k / WeightFormat.q8BlockSize
                for b in 0..<blocks {
                    let x = buffer + b * WeightFormat.q8BlockSize
                    var largest: Float = 0
                    for i in 0..<WeightFormat.q8BlockSize { largest = max(largest, abs(x[i])) }
                    guard let d = WeightFormat.q8Scale(maxMagnitude: largest) else {
                        throw WeightFormatError.outOfRange(format: .q8_0, value: largest, row: r, what: what)
                    }
                    scales![r * blocks + b] = d
                    for i in 0..<WeightFormat.q8BlockSize {
                        out[b * WeightFormat.q8BlockSize + i] = WeightFormat.q8Quantize(x[i], scale: d)
                    }
                }
            case .fp32: fatalError("unreachable: refused above")
            }
        }
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
        values.copyMemory(from: quants, byteCount: n * k)
        let blocks = k / WeightFormat.q8BlockSize
        for r in 0..<n { for b in 0..<blocks { scales![r * blocks + b] = scale(r, b) } }
    }

    /// Row n's weights as fp32 (exact for bf16 and f16; q · d for q8_0): out [K].
    public func widenRow(_ n: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(n >= 0 && n < rows)
        let k = columns
        switch format {
        case .bf16:
            let src = values.assumingMemoryBound(to: UInt16.self) + n * k
            for p in 0..<k { out[p] = WeightFormat.floatFromBF16(src[Self.slot(p)]) }
        case .f16:
            let src = values.assumingMemoryBound(to: Float16.self) + n * k
            for p in 0..<k { out[p] = Float(src[Self.slot(p)]) }
        case .q8_0:
            let src = values.assumingMemoryBound(to: Int8.self) + n * k
            let blocks = k / WeightFormat.q8BlockSize
            for p in 0..<k { out[p] = Float(src[p]) * scales![n * blocks + p / WeightFormat.q8BlockSize] }
        case .fp32: fatalError("unreachable")
        }
    }

    /// The stored bytes, row-major [N, K] (Int8 for q8_0; the 16-bit formats in `slot` order), for writing.
    public var storedValues: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: values, count: rows * columns * (format == .q8_0 ? 1 : 2))
    }

    /// q8_0's scales, [N, K / 32]; empty for the 16-bit formats.
    public var storedScales: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: scales, count: scales == nil ? 0 : rows * columns / WeightFormat.q8BlockSize)
    }
}
