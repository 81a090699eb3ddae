// meta.json of a prepared data directory (train.bin, val.bin, the tokenizer file):
// what training needs to read the token files and check they match its tokenizer.
import Foundation
import GPTIO

/// How a prepared directory stores its ids.
public enum DatasetFormat: String, Codable, Sendable, CaseIterable {
    /// train.bin and val.bin: raw little-endian ids, no header (nanoGPT's layout).
    case native
    /// llm.c shards: NAME_train_000000.bin …, NAME_val_000000.bin … (see `LLMCShard`).
    case llmc
}

public struct DatasetMeta: Codable, Equatable, Sendable {
    /// Element type of the token files.
    public var dtype: TokenDType
    public var vocabularySize: Int
    /// "char", "gpt2", or the name of a trained tokenizer.
    public var tokenizer: String
    /// The tokenizer file in the same directory.
    public var tokenizerFile: String
    public var trainTokens: Int
    public var validationTokens: Int
    public var validationFraction: Double
    public var documents: Int
    /// Bytes of document text, and the SHA-256 of the input files concatenated in order.
    public var sourceBytes: Int
    public var sourceSHA256: String
    public var inputs: [String]
    /// nil in directories written before llm.c shards existed: native.
    public var format: DatasetFormat?

    public static let fileName = "meta.json"

    /// meta.json's keys stay snake_case, as nanoGPT's meta.pkl and our CLI's JSON do.
    enum CodingKeys: String, CodingKey {
        case dtype, tokenizer, documents, inputs, format
        case vocabularySize = "vocab_size", tokenizerFile = "tokenizer_file", trainTokens = "train_tokens"
        case validationTokens = "val_tokens", validationFraction = "val_fraction", sourceBytes = "source_bytes"
        case sourceSHA256 = "source_sha256"
    }

    public static func load(from directory: URL) throws -> DatasetMeta {
        let url = directory.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.unreadableInput(path: url.path, reason: "missing (is this a `gpt prepare` output directory?)")
        }
        do {
            return try JSONDecoder().decode(DatasetMeta.self, from: data)
        } catch {
            throw DataError.malformedTokenFile(path: url.path, reason: "not a valid meta.json (\(error))")
        }
    }

    func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = directory.appendingPathComponent(Self.fileName)
        do {
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw DataError.unwritableOutput(path: url.path, reason: FileAccessError.words(error))
        }
    }
}
