// Where encoded corpus tokens go: a token file (`gpt prepare`) or an array in memory
// (training straight from a text file). Both are filled by the same encoding pass.
protocol TokenSink: AnyObject {
    /// Tokens appended so far.
    var count: Int { get }
    func append(_ ids: [Int]) throws
}

/// Tokens kept in memory.
final class TokenArray: TokenSink {
    private(set) var tokens: [Int32] = []
    var count: Int { tokens.count }
    func append(_ ids: [Int]) throws { tokens.append(contentsOf: ids.lazy.map { Int32(truncatingIfNeeded: $0) }) }
}
