// Which tokens' logprobs go with a piece of released text. Text is released by bytes (held
// back at UTF-8 boundaries and while a stop string is undecided), so each token's logprob is
// sent with the piece that completes its bytes; at the end, tokens that began in the kept
// text but were cut by a stop string follow.
struct TokenLogs {
    private var entries: [(logprob: TokenLogprob, end: Int)] = []
    private var sent = 0
    private var generatedBytes = 0
    private var releasedBytes = 0

    mutating func add(_ logprob: TokenLogprob, byteCount: Int) {
        generatedBytes += byteCount
        entries.append((logprob, generatedBytes))
    }

    /// The entries whose bytes `text` (the next released piece) completes.
    mutating func release(_ text: String) -> [TokenLogprob] {
        releasedBytes += text.utf8.count
        var out: [TokenLogprob] = []
        while sent < entries.count && entries[sent].end <= releasedBytes { out.append(entries[sent].logprob); sent += 1 }
        return out
    }

    /// Entries not yet sent that began before the end of the released text.
    mutating func remainder() -> [TokenLogprob] {
        var out: [TokenLogprob] = []
        while sent < entries.count && entries[sent].end - entries[sent].logprob.bytes.count < releasedBytes {
            out.append(entries[sent].logprob); sent += 1
        }
        return out
    }
}
