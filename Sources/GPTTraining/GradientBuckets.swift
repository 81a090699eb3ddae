// DDP's overlap of communication with backward: as soon as backward has finished a layer's
// gradient (GPT.gradientsFinished, last layer first), its sum over the ranks is started, and
// the next layer's backward runs while it travels. `wait` returns when every slice is summed.
import GPTDistributed
import GPTKernels

final class GradientBuckets {
    let communicator: any Communicator
    /// The model's gradient buffer, in its parameter layout.
    let gradients: UnsafeMutablePointer<Float>
    let pool: ThreadPool
    /// Earlier micro-batches' gradient sum (ordered accumulation), added to each slice before it is sent.
    var pending: UnsafeMutablePointer<Float>?
    private var failure: Error?

    init(communicator: any Communicator, gradients: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        self.communicator = communicator; self.gradients = gradients; self.pool = pool
    }

    /// Called by backward with a slice of the layout that is now final.
    func finished(_ range: Range<Int>) {
        guard failure == nil, !range.isEmpty else { return }
        let slice = gradients + range.lowerBound
        if let pending {
            Residual.forward(out: slice, slice, pending + range.lowerBound, count: range.count, pool: pool)
        }
        do {
            try communicator.startAllReduceSum(UnsafeMutableBufferPointer(start: slice, count: range.count))
            try communicator.progressReductions()
        } catch {
            failure = error
        }
    }

    /// Waits for every started slice; the gradients are then the sum over the ranks.
    func wait() throws {
        if let failure { throw failure }
        try communicator.waitForReductions()
    }
}
