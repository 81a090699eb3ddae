// ZeRO stage 1 (Rajbhandari et al. 2020) for ranks that share one machine's memory. Each rank
// back-propagates into its own segment of shared memory; then every rank owns one part of the
// parameter layout: it sums that part's gradient over the ranks (reading the others' segments),
// takes the AdamW step for that part alone, and puts the new weights in its segment, from which
// the other ranks copy them. Each gradient byte crosses between ranks once, with no MPI buffers
// in between, and the AdamW work is split over the ranks.
//
// Parts start at multiples of Reduction.chunk, so the clipping norm, added up from the parts'
// chunk sums in chunk order, is the one a single process computes; the sums over ranks are
// taken in rank order, as ordered accumulation adds micro-batches. N ranks therefore take the
// step one process takes with grad_accumulation N, bit for bit.
import Foundation
import GPTCore
import GPTDistributed
import GPTKernels

public final class OptimizerShards {
    let segments: SharedSegments
    let rank: Int
    /// Rank r's part of the layout.
    let parts: [Range<Int>]
    let count: Int
    /// The norm's chunk sums: this rank's chunks, zeros elsewhere, then summed over the ranks.
    private var partial: [Double]

    init(segments: SharedSegments, rank: Int, ranks: Int, count: Int) {
        self.segments = segments; self.rank = rank; self.count = count
        parts = Self.parts(count: count, ranks: ranks)
        partial = [Double](repeating: 0, count: Reduction.chunkCount(count))
    }

    /// The ranks' parts of a layout of `count`: contiguous, in rank order, about equal, each starting
    /// on a multiple of Reduction.chunk (the last ranks' are empty when there are fewer chunks than ranks).
    public static func parts(count: Int, ranks: Int) -> [Range<Int>] {
        let chunk = Reduction.chunk
        let bounds = (0...ranks).map { r in min(count, (count * r / ranks + chunk - 1) / chunk * chunk) }
        return (0..<ranks).map { bounds[$0]..<bounds[$0 + 1] }
    }

    /// This rank's gradient buffer: back-propagation writes it in place.
    var gradients: UnsafeMutablePointer<Float> { segments.segments[rank] }

    /// After every rank's backward: sums this rank's part over the ranks, clips by the global norm,
    /// updates that part with `optimizer`, and copies the other parts' new weights from their owners.
    /// Returns the gradient norm before clipping and the milliseconds spent exchanging (all but AdamW).
    func update(_ model: GPT, optimizer: AdamW, learningRate: Float, maxGradientNorm: Float?,
                communicator: any Communicator) throws -> (norm: Double, exchangeMilliseconds: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let mine = parts[rank], all = segments.segments, pool = model.pool
        try segments.fence()  // every rank's gradient is complete
        if all.count > 1 {
            Residual.forward(out: all[rank] + mine.lowerBound, all[0] + mine.lowerBound, all[1] + mine.lowerBound,
                             count: mine.count, pool: pool)
            for r in all.indices.dropFirst(2) {
                Residual.accumulate(all[rank] + mine.lowerBound, all[r] + mine.lowerBound, count: mine.count, pool: pool)
            }
        }
        // Parts start on chunks, so this rank's chunks are exactly those its part covers (none if it is empty).
        let chunks = mine.isEmpty ? 0..<0 : mine.lowerBound / Reduction.chunk..<Reduction.chunkCount(mine.upperBound)
        try partial.withUnsafeMutableBufferPointer {
            $0.update(repeating: 0)
            Reduction.chunkSumsOfSquares(all[rank], count: count, chunks: chunks, into: $0.baseAddress!, pool: pool)
            try communicator.allReduceSum($0)
        }
        let norm = partial.withUnsafeBufferPointer { Reduction.total($0) }.squareRoot()
        let scale = maxGradientNorm.map { AdamW.clippingScale(norm: norm, maxNorm: $0) } ?? 1
        let adamStart = DispatchTime.now().uptimeNanoseconds
        optimizer.update(parameters: model.parameters, gradients: all[rank], tensors: model.layout.tensors,
                         learningRate: learningRate, gradientScale: scale, part: mine, pool: pool)
        let adamNanoseconds = DispatchTime.now().uptimeNanoseconds - adamStart
        try share(model.parameters)
        let exchange = Double(DispatchTime.now().uptimeNanoseconds - start - adamNanoseconds) / 1e6
        return (norm, exchange)
    }

    /// Gives every rank the parts of `buffer` (a layout-sized buffer each rank keeps only its own
    /// part of up to date) that the other ranks own.
    func share(_ buffer: UnsafeMutablePointer<Float>) throws {
        let mine = parts[rank], all = segments.segments
        (all[rank] + mine.lowerBound).update(from: buffer + mine.lowerBound, count: mine.count)
        try segments.fence()
        for (r, part) in parts.enumerated() where r != rank {
            (buffer + part.lowerBound).update(from: all[r] + part.lowerBound, count: part.count)
        }
        try segments.fence()  // the segments are free again for the next step's gradients
    }
}
