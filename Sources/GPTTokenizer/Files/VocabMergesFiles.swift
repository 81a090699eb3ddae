// GPT-2's original tokenizer files as Hugging Face names them: `vocab.json`
// (token string -> id, bytes written through `ByteLevelAlphabet`) and
// `merges.txt` (`#version: 0.2`, then one merge `A B` a line in priority order),
// as read by openai/gpt-2 encoder.py and `tokenizers`' BPE.from_file.
//
// This package encodes with tiktoken's rule (rank of the concatenated bytes, id ==
// rank), so a merge's result must have a larger id than every earlier merge's
// result; GPT-2's files satisfy this (merge i yields id 256 + i).
import Foundation

public enum VocabMergesFiles {
    /// Loads `vocab.json` and `merges.txt`. Vocabulary entries that are neither a
    /// single byte nor the result of a merge are special tokens (`<|endoftext|>`).
    public static func load(vocabulary vocabURL: URL, merges mergesURL: URL, name: String? = nil) throws -> BytePairTokenizer {
        let vocabPath = vocabURL.path, mergesPath = mergesURL.path
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: TextFile.readBytes(vocabURL))
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.malformedVocabulary(path: vocabPath, reason: "not valid JSON")
        }
        guard let entries = json as? [String: Int] else {
            throw TokenizerError.malformedVocabulary(path: vocabPath, reason: "expected a JSON object of token string to integer id")
        }
        var bytesOfID: [Int: [UInt8]] = [:]
        for (string, id) in entries {
            guard id >= 0, id < BytePairTokenizer.idLimit else {
                throw TokenizerError.malformedVocabulary(
                    path: vocabPath, reason: "token '\(string.prefix(60))' has id \(id), outside 0..<\(BytePairTokenizer.idLimit) "
                        + "(ids are stored as Int32)")
            }
            guard bytesOfID[id] == nil else {
                throw TokenizerError.malformedVocabulary(path: vocabPath, reason: "duplicate id \(id)")
            }
            bytesOfID[id] = ByteLevelAlphabet.bytes(for: string) ?? Array(string.utf8)
        }

        // Which ids are ordinary: the single bytes and every merge result.
        var ordinary = Set<Int>()
        for (string, id) in entries where ByteLevelAlphabet.bytes(for: string)?.count == 1 { ordinary.insert(id) }
        var lastMergeID = -1
        var lineNumber = 0
        for line in try TextFile.lines(TextFile.read(mergesURL)) {
            lineNumber += 1
            if line.isEmpty || (lineNumber == 1 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.malformedLine(path: mergesPath, line: lineNumber, reason: "expected 'A B', found '\(line.prefix(60))'")
            }
            for part in parts where entries[String(part)] == nil {
                throw TokenizerError.malformedLine(
                    path: mergesPath, line: lineNumber, reason: "'\(part)' is not a token of \(vocabURL.lastPathComponent)")
            }
            guard let id = entries[String(parts[0]) + String(parts[1])] else {
                throw TokenizerError.malformedLine(
                    path: mergesPath, line: lineNumber, reason: "the merged token '\(parts[0])\(parts[1])' is not in the vocabulary")
            }
            guard id > lastMergeID else {
                throw TokenizerError.malformedLine(
                    path: mergesPath, line: lineNumber,
                    reason: "merge result id \(id) is not above the previous merge's \(lastMergeID); ids must follow merge order")
            }
            lastMergeID = id
            ordinary.insert(id)
        }
        guard !ordinary.isEmpty else {
            throw TokenizerError.malformedVocabulary(path: vocabPath, reason: "no byte tokens")
        }
        let tokens = try (0..<ordinary.count).map { id in
            guard ordinary.contains(id), let bytes = bytesOfID[id] else {
                throw TokenizerError.malformedVocabulary(
                    path: vocabPath, reason: "id \(id) is missing (ordinary ids must run 0..<\(ordinary.count) without gaps)")
            }
            return bytes
        }
        // What the merges do not reach must be a special token. Accepting any unreached entry
        // as one would turn a truncated merges.txt into thousands of "special tokens" and
        // wrong ids with no error, so it must be written as special tokens are: <…> or […].
        var specials: [String: Int] = [:]
        var unreached: [(String, Int)] = []
        for (string, id) in entries where !ordinary.contains(id) {
            if Self.looksSpecial(string) { specials[string] = id } else { unreached.append((string, id)) }
        }
        if let (string, id) = unreached.min(by: { $0.1 < $1.1 }) {
            throw TokenizerError.malformedVocabulary(
                path: vocabPath, reason: "\(unreached.count) entries (the first '\(string.prefix(60))', id \(id)) are neither a byte "
                    + "nor made by a merge in \(mergesURL.lastPathComponent), nor a special token like <|endoftext|>: "
                    + "the merges do not reproduce the vocabulary")
        }
        return try BytePairTokenizer(name: name ?? vocabURL.lastPathComponent, tokens: tokens,
                                     specialTokens: specials, source: vocabPath)
    }

    /// Whether a vocabulary entry the merges do not produce is written as a special token
    /// (`<|endoftext|>`, `<s>`, `[PAD]`).
    static func looksSpecial(_ string: String) -> Bool {
        string.count >= 3 && ((string.hasPrefix("<") && string.hasSuffix(">")) || (string.hasPrefix("[") && string.hasSuffix("]")))
    }

    /// Writes `vocab.json` and `merges.txt` for `tokenizer`, deriving each token's
    /// merge as the two parts BPE splits it into using only lower ranks.
    public static func write(_ tokenizer: BytePairTokenizer, vocabulary vocabURL: URL, merges mergesURL: URL) throws {
        var vocabulary: [String: Int] = [:]
        var mergeLines = ["#version: 0.2"]
        var merger = BytePairMerger()
        for id in 0..<tokenizer.ordinaryTokenCount {
            let bytes = Array(tokenizer.ranks.key(id))
            vocabulary[ByteLevelAlphabet.string(for: bytes)] = id
            guard bytes.count > 1 else { continue }
            let parts = tokenizer.mergeParts(ofToken: id, merger: &merger)
            guard parts.count == 2, let left = tokenizer.bytes(of: parts[0]), let right = tokenizer.bytes(of: parts[1]) else {
                throw TokenizerError.malformedVocabulary(
                    path: vocabURL.path, reason: "token \(id) is not the merge of two lower-ranked tokens")
            }
            mergeLines.append(ByteLevelAlphabet.string(for: left) + " " + ByteLevelAlphabet.string(for: right))
        }
        for (string, id) in tokenizer.specialTokens { vocabulary[string] = id }
        let json = try JSONSerialization.data(withJSONObject: vocabulary, options: [.sortedKeys])
        try TextFile.write(String(decoding: json, as: UTF8.self), to: vocabURL)
        try TextFile.write(mergeLines.joined(separator: "\n") + "\n", to: mergesURL)
    }
}
