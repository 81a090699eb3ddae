// A prepared corpus opened for training or evaluation: the memory-mapped token files of
// each split and the tokenizer they were made with. Two layouts:
//   - `gpt prepare` (native): meta.json, train.bin, val.bin and the tokenizer file;
//   - llm.c shards (`gpt prepare --format llmc`, or shards from llm.c, FineWeb, TinyStories):
//     NAME_train_*.bin and NAME_val_*.bin; our meta.json and tokenizer file when we wrote
//     them, else GPT-2's tokenizer, which llm.c's version-1 shards are encoded with.
import Foundation
import GPTTokenizer

public struct PreparedDataset {
    public let meta: DatasetMeta
    public let train: TokenShards
    public let validation: TokenShards
    public let tokenizer: any Tokenizer

    /// Whether `directory` holds a prepared corpus (either layout).
    public static func isPrepared(_ directory: URL) -> Bool {
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent(DatasetMeta.fileName).path) { return true }
        let shards = LLMCShard.shards(in: directory)
        return !shards.train.isEmpty || !shards.validation.isEmpty
    }

    public init(directory: URL) throws {
        let metaURL = directory.appendingPathComponent(DatasetMeta.fileName)
        let stored = FileManager.default.fileExists(atPath: metaURL.path) ? try DatasetMeta.load(from: directory) : nil
        if let stored, stored.format ?? .native == .native {
            meta = stored
            train = TokenShards([try TokenFile(url: directory.appendingPathComponent(DataPreparer.trainFileName), dtype: meta.dtype)])
            validation = TokenShards([try TokenFile(url: directory.appendingPathComponent(DataPreparer.validationFileName),
                                                    dtype: meta.dtype)])
            tokenizer = try TokenizerFile.load(directory.appendingPathComponent(meta.tokenizerFile))
        } else {
            (meta, train, validation, tokenizer) = try Self.openShards(directory, meta: stored)
        }
        guard train.count == meta.trainTokens, validation.count == meta.validationTokens else {
            throw DataError.malformedTokenFile(
                path: directory.path,
                reason: "token files hold \(train.count) / \(validation.count) ids but meta.json says "
                    + "\(meta.trainTokens) / \(meta.validationTokens)")
        }
    }

    private static func openShards(_ directory: URL, meta stored: DatasetMeta?)
        throws -> (DatasetMeta, TokenShards, TokenShards, any Tokenizer) {
        let names = LLMCShard.shards(in: directory)
        guard !names.train.isEmpty else {
            throw DataError.malformedTokenFile(path: directory.path,
                                               reason: "no training shard (a .bin file whose name contains _train_)")
        }
        guard !names.validation.isEmpty else {
            throw DataError.malformedTokenFile(path: directory.path,
                                               reason: "no validation shard (a .bin file whose name contains _val_)")
        }
        let opened = try (names.train + names.validation).map(LLMCShard.open)
        let versions = Set(opened.map(\.version))
        guard versions.count == 1, let version = versions.first else {
            throw DataError.malformedTokenFile(path: directory.path, reason: "shards of different versions \(versions.sorted())")
        }
        let train = TokenShards(Array(opened.prefix(names.train.count).map(\.file)))
        let validation = TokenShards(Array(opened.suffix(names.validation.count).map(\.file)))
        let tokenizer: any Tokenizer
        if let stored {
            tokenizer = try TokenizerFile.load(directory.appendingPathComponent(stored.tokenizerFile))
        } else if FileManager.default.fileExists(atPath: directory.appendingPathComponent(TokenizerFile.defaultFileName).path) {
            tokenizer = try TokenizerFile.load(directory.appendingPathComponent(TokenizerFile.defaultFileName))
        } else if version == 1 {
            tokenizer = try TokenizerLoader.load("gpt2")
        } else {
            throw DataError.malformedTokenFile(
                path: directory.path,
                reason: "version-\(version) shards hold LLaMA 3 ids; put the tokenizer they were made with beside them as "
                    + TokenizerFile.defaultFileName)
        }
        let meta = stored ?? DatasetMeta(
            dtype: LLMCShard.dtype(version: version)!, vocabularySize: tokenizer.vocabularySize, tokenizer: tokenizer.name,
            tokenizerFile: TokenizerFile.defaultFileName, trainTokens: train.count, validationTokens: validation.count,
            validationFraction: Double(validation.count) / Double(max(1, train.count + validation.count)), documents: 0,
            sourceBytes: 0, sourceSHA256: "", inputs: [], format: .llmc)
        return (meta, train, validation, tokenizer)
    }
}
