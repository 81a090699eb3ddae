// Reader for tiktoken's rank files (`gpt2.tiktoken`, `r50k_base.tiktoken`): one
// line per token, `<base64 of the token bytes> <rank>`, ranks 0..N-1 with no gaps,
// as `load_tiktoken_bpe` in tiktoken/load.py expects. The file carries no special
// tokens; GPT-2's `<|endoftext|>` takes the next id (50256).
import Foundation

public enum TiktokenRankFile {
    /// Parses a rank file's text into token bytes indexed by rank.
    public static func parse(_ text: String, path: String) throws -> [[UInt8]] {
        var tokenOfRank: [Int: [UInt8]] = [:]
        var lineNumber = 0
        for line in TextFile.lines(text) {
            lineNumber += 1
            if line.isEmpty { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2 else {
                throw TokenizerError.malformedLine(
                    path: path, line: lineNumber, reason: "expected '<base64 token> <rank>', found '\(line.prefix(60))'")
            }
            guard let data = Data(base64Encoded: String(fields[0])), !data.isEmpty else {
                throw TokenizerError.malformedLine(
                    path: path, line: lineNumber, reason: "'\(fields[0].prefix(60))' is not a non-empty base64 token")
            }
            guard let rank = Int(fields[1]), rank >= 0 else {
                throw TokenizerError.malformedLine(
                    path: path, line: lineNumber, reason: "'\(fields[1].prefix(20))' is not a rank (a non-negative integer)")
            }
            guard rank < BytePairTokenizer.idLimit else {
                throw TokenizerError.malformedLine(
                    path: path, line: lineNumber,
                    reason: "rank \(rank) is outside 0..<\(BytePairTokenizer.idLimit) (ids are stored as Int32)")
            }
            guard tokenOfRank.updateValue(Array(data), forKey: rank) == nil else {
                throw TokenizerError.malformedLine(path: path, line: lineNumber, reason: "duplicate rank \(rank)")
            }
        }
        guard !tokenOfRank.isEmpty else {
            throw TokenizerError.malformedVocabulary(path: path, reason: "the rank file has no tokens")
        }
        return try (0..<tokenOfRank.count).map { rank in
            guard let bytes = tokenOfRank[rank] else {
                throw TokenizerError.malformedVocabulary(
                    path: path, reason: "rank \(rank) is missing (ranks must run 0..<\(tokenOfRank.count) without gaps)")
            }
            return bytes
        }
    }

    /// Loads a rank file as a tokenizer with `<|endoftext|>` after the last rank.
    public static func load(_ url: URL, name: String? = nil) throws -> BytePairTokenizer {
        let tokens = try parse(TextFile.read(url), path: url.path)
        return try BytePairTokenizer(
            name: name ?? url.lastPathComponent, tokens: tokens,
            specialTokens: [BytePairTokenizer.endOfText: tokens.count], source: url.path)
    }

    /// Writes `tokenizer`'s ordinary tokens in this format.
    public static func write(_ tokenizer: BytePairTokenizer, to url: URL) throws {
        var text = ""
        for id in 0..<tokenizer.ordinaryTokenCount {
            text += Data(tokenizer.ranks.key(id)).base64EncodedString() + " \(id)\n"
        }
        try TextFile.write(text, to: url)
    }
}
