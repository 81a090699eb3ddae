// A `gpt prepare` output directory opened for training: meta.json, the two
// memory-mapped token files and the tokenizer they were made with.
import Foundation
import GPTTokenizer

public struct PreparedDataset {
    public let meta: DatasetMeta
    public let train: TokenFile
    public let validation: TokenFile
    public let tokenizer: any Tokenizer

    public init(directory: URL) throws {
        meta = try DatasetMeta.load(from: directory)
        train = try TokenFile(url: directory.appendingPathComponent(DataPreparer.trainFileName), dtype: meta.dtype)
        validation = try TokenFile(url: directory.appendingPathComponent(DataPreparer.validationFileName), dtype: meta.dtype)
        tokenizer = try TokenizerFile.load(directory.appendingPathComponent(meta.tokenizerFile))
        guard train.count == meta.trainTokens, validation.count == meta.validationTokens else {
            throw DataError.malformedTokenFile(
                path: directory.path,
                reason: "token files hold \(train.count) / \(validation.count) ids but meta.json says "
                    + "\(meta.trainTokens) / \(meta.validationTokens)")
        }
    }
}
