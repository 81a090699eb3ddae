// swift-gpt's own tokenizer file, written beside prepared data and checkpoints and
// by `gpt tokenizer train`. JSON, one object:
//
//   format          "swift-gpt-tokenizer"
//   version         1
//   type            "char" | "bpe"
//   name            short name ("char", "gpt2", ...)
//   characters      char only: the alphabet in id order, one string per scalar
//   pattern         bpe only: the split pattern, "gpt2" (the only one supported)
//   tokens          bpe only: base64 of each ordinary token's bytes, id order
//                   (id == merge rank, as in a .tiktoken file)
//   special_tokens  bpe only: special token text -> id
import Foundation

public enum TokenizerFile {
    /// The file name used inside data and checkpoint directories.
    public static let defaultFileName = "gpt-tokenizer.json"
    static let formatName = "swift-gpt-tokenizer"

    private struct Contents: Codable {
        var format: String
        var version: Int
        var type: String
        var name: String
        var characters: [String]?
        var pattern: String?
        var tokens: [String]?
        var special_tokens: [String: Int]?
    }

    /// Writes `tokenizer` (a `CharTokenizer` or `BytePairTokenizer`).
    public static func write(_ tokenizer: any Tokenizer, to url: URL) throws {
        var contents = Contents(format: formatName, version: 1, type: "", name: tokenizer.name)
        if let char = tokenizer as? CharTokenizer {
            contents.type = "char"
            contents.characters = char.characters.map { String($0) }
        } else if let bpe = tokenizer as? BytePairTokenizer {
            contents.type = "bpe"
            contents.pattern = "gpt2"
            contents.tokens = (0..<bpe.ordinaryTokenCount).map { Data(bpe.ranks.key($0)).base64EncodedString() }
            contents.special_tokens = bpe.specialTokens
        } else {
            throw TokenizerError.unknownTokenizer(spec: tokenizer.name, reason: "this tokenizer type cannot be saved")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(contents)
        try TextFile.write(String(decoding: data, as: UTF8.self), to: url)
    }

    /// Whether `data` looks like this format (a JSON object naming it).
    static func isTokenizerFile(_ data: Data) -> Bool {
        data.prefix(4096).range(of: Data("\"\(formatName)\"".utf8)) != nil
    }

    /// Reads a tokenizer file.
    public static func load(_ url: URL) throws -> any Tokenizer {
        let path = url.path
        let contents: Contents
        do {
            contents = try JSONDecoder().decode(Contents.self, from: TextFile.readBytes(url))
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.malformedVocabulary(path: path, reason: "not a swift-gpt tokenizer file (\(error))")
        }
        guard contents.format == formatName, contents.version == 1 else {
            throw TokenizerError.malformedVocabulary(
                path: path, reason: "format '\(contents.format)' version \(contents.version) is not swift-gpt-tokenizer 1")
        }
        switch contents.type {
        case "char":
            let characters = try (contents.characters ?? []).enumerated().map { index, string in
                guard string.unicodeScalars.count == 1, let scalar = string.unicodeScalars.first else {
                    throw TokenizerError.malformedVocabulary(path: path, reason: "character \(index) is not a single scalar")
                }
                return scalar
            }
            guard !characters.isEmpty else {
                throw TokenizerError.malformedVocabulary(path: path, reason: "the character list is empty")
            }
            return CharTokenizer(characters: characters)
        case "bpe":
            guard (contents.pattern ?? "gpt2") == "gpt2" else {
                throw TokenizerError.malformedVocabulary(path: path, reason: "unknown split pattern '\(contents.pattern ?? "")'")
            }
            let tokens = try (contents.tokens ?? []).enumerated().map { id, encoded in
                guard let data = Data(base64Encoded: encoded), !data.isEmpty else {
                    throw TokenizerError.malformedVocabulary(path: path, reason: "token \(id) is not non-empty base64")
                }
                return Array(data)
            }
            return try BytePairTokenizer(name: contents.name, tokens: tokens,
                                         specialTokens: contents.special_tokens ?? [:], source: path)
        default:
            throw TokenizerError.malformedVocabulary(path: path, reason: "unknown tokenizer type '\(contents.type)'")
        }
    }
}
