// Sequences of different lengths as one [B, T] batch for a classifier. Padding goes on
// the right: with causal attention a real token never attends to a later position, so
// the pads cannot change any real token's hidden state, and the classifier reads each
// sequence at its own last real token.

public enum PaddedBatchError: Error, CustomStringConvertible, Equatable {
    case emptySequence(index: Int)
    case noSequences

    public var description: String {
        switch self {
        case let .emptySequence(index): return "sequence \(index) of the batch has no tokens"
        case .noSequences: return "a batch needs at least one sequence"
        }
    }
}

public struct PaddedBatch: Sendable {
    public let batch: Int
    /// The longest sequence's length: T.
    public let seq: Int
    /// [B, T], each row a sequence followed by `padding` tokens.
    public let tokens: [Int32]
    /// [B, T]: the next token within the same sequence (the language-model targets), −1 elsewhere.
    public let targets: [Int32]
    public let lengths: [Int]

    public init(sequences: [[Int32]], padding: Int32) throws {
        guard !sequences.isEmpty else { throw PaddedBatchError.noSequences }
        if let empty = sequences.firstIndex(where: \.isEmpty) { throw PaddedBatchError.emptySequence(index: empty) }
        batch = sequences.count
        lengths = sequences.map(\.count)
        seq = lengths.max()!
        var tokens = [Int32](repeating: padding, count: batch * seq)
        var targets = [Int32](repeating: -1, count: batch * seq)
        for (b, sequence) in sequences.enumerated() {
            for (t, token) in sequence.enumerated() {
                tokens[b * seq + t] = token
                if t > 0 { targets[b * seq + t - 1] = token }
            }
        }
        self.tokens = tokens
        self.targets = targets
    }

    /// The row of each sequence's last real token in the flattened [B·T] positions.
    public var lastTokenRows: [Int] { lengths.enumerated().map { $0.offset * seq + $0.element - 1 } }
}
