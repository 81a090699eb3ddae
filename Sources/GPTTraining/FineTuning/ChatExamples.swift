// Conversations as training sequences: each one encoded through the chat template into
// ids and a target mask, cut to fit the context. The model reads ids[0..<n−1] and is
// scored on ids[1..<n] where the mask marks an assistant token; system and user tokens,
// the template's headers and the padding have zero weight (target −1).
//
// A conversation longer than the context + 1 tokens loses its oldest turns first (a
// leading system message stays), always keeping the last trained assistant turn whole;
// messages after that turn teach nothing and are dropped. When even the system message and
// the last turn do not fit, the system message goes too, and as a last resort the sequence
// is cut at the end of the context (counted as clipped).
import GPTData
import GPTTokenizer

public struct ChatExamples: Sendable {
    /// Per conversation: ids ([n], n ≤ context + 1) and which are targets ([n]).
    public private(set) var sequences: [[Int32]] = []
    public private(set) var targets: [[Bool]] = []
    /// The messages each sequence was made from (after truncation), for sample replies.
    public private(set) var conversations: [[ChatMessage]] = []
    /// Conversations that lost turns, and the turns they lost.
    public private(set) var truncatedConversations = 0
    public private(set) var droppedTurns = 0
    /// Conversations cut inside their last turn because even it did not fit.
    public private(set) var clipped = 0

    public var count: Int { sequences.count }
    /// Assistant tokens the loss counts.
    public var targetTokens: Int { targets.reduce(0) { total, mask in total + mask.dropFirst().filter { $0 }.count } }

    public init(_ source: [Conversation], encoder: ChatEncoder, contextLength: Int) throws {
        let limit = contextLength + 1
        for conversation in source {
            var messages = conversation.messages
            let last = messages.lastIndex { $0.role == .assistant && $0.trained }!  // ChatConversations refuses conversations without one
            messages.removeSubrange((last + 1)...)
            var encoded = try encoder.encode(messages, generationPrompt: false)
            var dropped = 0
            while encoded.ids.count > limit {
                let first = messages.first?.role == .system ? 1 : 0
                if messages.count - 1 > first {
                    messages.remove(at: first)
                } else if first == 1 {
                    messages.remove(at: 0)
                } else {
                    break
                }
                dropped += 1
                encoded = try encoder.encode(messages, generationPrompt: false)
            }
            if dropped > 0 { truncatedConversations += 1; droppedTurns += dropped }
            if encoded.ids.count > limit {
                clipped += 1
                encoded.ids.removeSubrange(limit...)
                encoded.isTarget.removeSubrange(limit...)
            }
            // A sequence that is all context (a reply cut away entirely) cannot teach anything.
            guard encoded.ids.count >= 2, encoded.isTarget.dropFirst().contains(true) else { continue }
            sequences.append(encoded.ids.map(Int32.init))
            targets.append(encoded.isTarget)
            conversations.append(messages)
        }
    }

    /// Inputs and targets of sequences `indices` as one right-padded [B, T] batch, T the longest input.
    public func batch(_ indices: [Int], padding: Int32) -> (tokens: [Int32], targets: [Int32], batch: Int, seq: Int) {
        let seq = indices.map { sequences[$0].count - 1 }.max() ?? 1
        var tokens = [Int32](repeating: padding, count: indices.count * seq)
        var labels = [Int32](repeating: -1, count: indices.count * seq)
        for (b, index) in indices.enumerated() {
            let ids = sequences[index], mask = targets[index]
            for t in 0..<(ids.count - 1) {
                tokens[b * seq + t] = ids[t]
                if mask[t + 1] { labels[b * seq + t] = ids[t + 1] }
            }
        }
        return (tokens, labels, indices.count, seq)
    }

    /// What the command prints about a set.
    public var summary: String {
        let lengths = sequences.map(\.count)
        return "\(count) conversations, \(lengths.reduce(0, +)) tokens (max \(lengths.max() ?? 0)), \(targetTokens) assistant tokens; "
            + "\(truncatedConversations) cut from the oldest turns (\(droppedTurns) turns dropped)"
            + (clipped > 0 ? ", \(clipped) clipped inside the last turn" : "")
    }
}
