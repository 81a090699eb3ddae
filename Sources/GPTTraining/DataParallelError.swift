// What stops a data-parallel run: ranks whose weights differ, or a checkpoint whose step
// cannot be split over this many ranks.
public enum DataParallelError: Error, CustomStringConvertible, Equatable {
    /// Ranks whose weight checksum differs from rank 0's.
    case diverged(ranks: [Int], position: String)
    case differentData(rank: Int)
    case worldSizeChanged(checkpointRanks: Int, checkpointAccumulation: Int, ranks: Int, accumulation: Int)
    case notDataParallel

    public var description: String {
        switch self {
        case let .diverged(ranks, position):
            let names = ranks.map(String.init).joined(separator: ", ")
            return "the weights of rank\(ranks.count == 1 ? "" : "s") \(names) differ from rank 0's \(position) "
                + "(weight checksums disagree); stopping with the last checkpoint kept"
        case let .differentData(rank):
            return "rank \(rank) reads other training data than rank 0 (fingerprints differ); give every rank the same --data"
        case let .worldSizeChanged(savedRanks, savedAccumulation, ranks, accumulation):
            return "cannot resume: the checkpoint's steps were \(savedRanks) rank\(savedRanks == 1 ? "" : "s") × grad_accumulation "
                + "\(savedAccumulation) = \(savedRanks * savedAccumulation) micro-batches, this run's are \(ranks) × \(accumulation) = "
                + "\(ranks * accumulation), so its steps would see other windows; run with -np \(savedRanks), or set "
                + "grad_accumulation so that ranks × grad_accumulation = \(savedRanks * savedAccumulation)"
        case .notDataParallel: return "this run cannot be shared over MPI ranks; start it without mpirun"
        }
    }
}
