// Where encoded corpus tokens go: a token file (`gpt prepare`) or an array in memory
// (training straight from a text file). Both are filled by the same encoding pass.
protocol TokenSink: AnyObject {
    /// Tokens appended so far.
    var count: Int { get }
    func append(_ ids: [Int]) throws
}

/// A sink that writes files under staging names: `close`, then `commit` renames them into
/// place, or `discard` removes them.
protocol StagedTokenSink: TokenSink {
    func close() throws
    func commit() throws
    func discard()
}

/// Tokens kept in memory.
final class TokenArray: TokenSink {
    private(set) var tokens: [Int32] = []
    var count: Int { tokens.count }
    func append(_ ids: [Int]) throws { tokens.append(contentsOf: ids.lazy.map { Int32(truncatingIfNeeded: $0) }) }
}
