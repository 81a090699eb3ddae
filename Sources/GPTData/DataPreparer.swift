// `gpt prepare`: corpus -> train.bin, val.bin, meta.json and the tokenizer file,
// as nanoGPT's data/*/prepare.py, but streaming: text is read in blocks, a batch
// of blocks is encoded in parallel, and the ids are appended in order, so memory
// is bounded by the batch (threads x 2 blocks), not by the corpus. Documents are
// joined by `<|endoftext|>` when the tokenizer has it (nanoGPT's openwebtext
// convention); the character tokenizer simply concatenates them.
import Foundation
import GPTIO
import GPTTokenizer

public enum DataPreparer {
    /// The tokenizer to prepare with.
    public enum TokenizerChoice {
        /// A character vocabulary built from the corpus itself.
        case characters
        /// A ready tokenizer (GPT-2 or a trained BPE).
        case given(any Tokenizer)
    }

    public static let trainFileName = "train.bin"
    public static let validationFileName = "val.bin"

    /// The files `prepare` writes into `directory`.
    public static func outputFiles(in directory: URL) -> [URL] {
        [trainFileName, validationFileName, DatasetMeta.fileName, TokenizerFile.defaultFileName].map { directory.appendingPathComponent($0) }
    }

    /// Prepares `inputs` into `outputDirectory` (created if needed) and returns what meta.json records.
    /// The last `validationFraction` of the text (by bytes, cut at a character) becomes val.bin.
    /// With `.llmc`, each split is written as llm.c shards of at most `shardTokens` ids.
    public static func prepare(inputs: [CorpusInput], tokenizer choice: TokenizerChoice, outputDirectory: URL,
                               validationFraction: Double = 0.1, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                               blockSize: Int = 1 << 20, format: DatasetFormat = .native,
                               shardTokens: Int = LLMCShard.defaultShardTokens,
                               progress: ((PrepareProgress) -> Void)? = nil,
                               shouldStop: (() -> Bool)? = nil) throws -> DatasetMeta {
        guard validationFraction >= 0, validationFraction < 1 else {
            throw DataError.invalidValidationFraction(validationFraction)
        }
        let reader = CorpusReader(inputs: inputs, blockSize: blockSize)
        let start = Date()
        let tokenizer: any Tokenizer
        let contentBytes: Int
        switch choice {
        case .given(let given):
            tokenizer = given
            contentBytes = try reader.contentByteCount()
        case .characters:
            (tokenizer, contentBytes) = try scanCharacters(reader, start: start, progress: progress)
        }
        guard contentBytes > 0 else { throw DataError.emptyCorpus }
        let trainBytes = validationFraction > 0 ? Int(Double(contentBytes) * (1 - validationFraction)) : nil

        do {
            try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw DataError.unwritableOutput(path: outputDirectory.path, reason: FileAccessError.words(error))
        }
        let dtype = TokenDType(vocabularySize: tokenizer.vocabularySize)
        let train: any StagedTokenSink, validation: any StagedTokenSink
        switch format {
        case .native:
            train = try TokenFileWriter(url: outputDirectory.appendingPathComponent(trainFileName), dtype: dtype)
            validation = try TokenFileWriter(url: outputDirectory.appendingPathComponent(validationFileName), dtype: dtype)
        case .llmc:
            guard dtype == .uint16 else {
                throw DataError.unsupportedByFormat(
                    format: "llm.c shards", reason: "their version-1 ids are uint16, and this tokenizer has \(tokenizer.vocabularySize) ids")
            }
            guard (1...Int(Int32.max)).contains(shardTokens) else {
                throw DataError.unsupportedByFormat(format: "llm.c shards", reason: "\(shardTokens) tokens per shard is outside 1...\(Int32.max)")
            }
            let existing = LLMCShard.shards(in: outputDirectory)
            if let old = (existing.train + existing.validation).first {
                throw DataError.unsupportedByFormat(
                    format: "llm.c shards", reason: "\(outputDirectory.path) already holds shards (\(old.lastPathComponent)); "
                        + "a second corpus beside them would be read as one with them. Choose an empty --out")
            }
            let prefix = shardPrefix(outputDirectory)
            train = LLMCShardWriter(directory: outputDirectory, prefix: prefix, split: "train", shardTokens: shardTokens)
            validation = LLMCShardWriter(directory: outputDirectory, prefix: prefix, split: "val", shardTokens: shardTokens)
        }
        try TokenizerFile.write(tokenizer, to: outputDirectory.appendingPathComponent(TokenizerFile.defaultFileName))
        let documents: Int, checksum: String
        do {
            (documents, checksum) = try encode(reader, tokenizer: tokenizer, trainBytes: trainBytes, contentBytes: contentBytes,
                                               into: train, validation, threads: threads, start: start, progress: progress,
                                               shouldStop: shouldStop)
            try train.close()
            try validation.close()
            try train.commit()
            try validation.commit()
        } catch {
            train.discard()
            validation.discard()
            throw error
        }

        let meta = DatasetMeta(
            dtype: dtype, vocabularySize: tokenizer.vocabularySize, tokenizer: tokenizer.name,
            tokenizerFile: TokenizerFile.defaultFileName, trainTokens: train.count, validationTokens: validation.count,
            validationFraction: validationFraction, documents: documents, sourceBytes: contentBytes,
            sourceSHA256: checksum, inputs: inputs.map(\.url.path), format: format == .native ? nil : format)
        try meta.write(to: outputDirectory)
        return meta
    }

    /// The NAME in NAME_train_000000.bin: the output directory's name, in letters, digits, '-' and '.'.
    static func shardPrefix(_ directory: URL) -> String {
        let kept = String(directory.standardizedFileURL.lastPathComponent.unicodeScalars.map {
            CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "." ? Character($0) : "-"
        })
        return kept.isEmpty || kept == "." || kept == "/" ? "corpus" : kept
    }

    /// Encodes what `reader` reads, in parallel batches of blocks, into the two sinks (documents
    /// joined by the end-of-text token where the tokenizer has one). Returns the document count
    /// and the source checksum.
    static func encode(_ reader: CorpusReader, tokenizer: any Tokenizer, trainBytes: Int?, contentBytes: Int,
                       into train: any TokenSink, _ validation: any TokenSink, threads: Int, start: Date,
                       progress: ((PrepareProgress) -> Void)?,
                       shouldStop: (() -> Bool)? = nil) throws -> (documents: Int, checksum: String) {
        let workers = max(1, threads)
        var batch: [TextSegment] = []
        var batchBytes = 0
        var bytesDone = 0
        var documents = 0
        func flush() throws {
            if shouldStop?() == true { throw DataError.interrupted }
            let encoded = try encodeInParallel(batch, tokenizer: tokenizer, workers: workers)
            for (segment, ids) in zip(batch, encoded) {
                let writer = segment.isValidation ? validation : train
                if segment.startsDocument {
                    documents += 1
                    if writer.count > 0, let separator = tokenizer.endOfTextID { try writer.append([separator]) }
                }
                try writer.append(ids)
            }
            bytesDone += batchBytes
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            progress?(PrepareProgress(phase: "encode", bytesDone: bytesDone, totalBytes: contentBytes,
                                      elapsedSeconds: Date().timeIntervalSince(start)))
        }
        let checksum = try reader.read(trainContentBytes: trainBytes) { segment in
            batch.append(segment)
            batchBytes += segment.bytes.count
            if batchBytes >= 2 * workers * reader.blockSize { try flush() }
        }
        try flush()
        return (documents, checksum)
    }

    /// The training and validation tokens of `inputs`, in memory, by exactly the rule `prepare`
    /// writes to files: documents joined by the end-of-text token, and the last
    /// `validationFraction` of the text (by bytes, cut back to a character) as validation.
    public static func tokenize(inputs: [CorpusInput], tokenizer choice: TokenizerChoice, validationFraction: Double = 0.1,
                                threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                blockSize: Int = 1 << 20) throws -> TokenizedCorpus {
        guard validationFraction >= 0, validationFraction < 1 else { throw DataError.invalidValidationFraction(validationFraction) }
        let reader = CorpusReader(inputs: inputs, blockSize: blockSize)
        let tokenizer: any Tokenizer, contentBytes: Int
        switch choice {
        case .given(let given): (tokenizer, contentBytes) = (given, try reader.contentByteCount())
        case .characters: (tokenizer, contentBytes) = try scanCharacters(reader, start: Date(), progress: nil)
        }
        guard contentBytes > 0 else { throw DataError.emptyCorpus }
        let trainBytes = validationFraction > 0 ? Int(Double(contentBytes) * (1 - validationFraction)) : nil
        let train = TokenArray(), validation = TokenArray()
        _ = try encode(reader, tokenizer: tokenizer, trainBytes: trainBytes, contentBytes: contentBytes, into: train, validation,
                       threads: threads, start: Date(), progress: nil)
        return TokenizedCorpus(tokenizer: tokenizer, train: train.tokens, validation: validation.tokens)
    }

    /// First pass for the character tokenizer: the alphabet and the text size.
    private static func scanCharacters(_ reader: CorpusReader, start: Date,
                                       progress: ((PrepareProgress) -> Void)?) throws -> (CharTokenizer, Int) {
        var inventory = CharacterInventory()
        var bytes = 0
        let totalFileBytes = reader.totalFileBytes()
        try reader.read(trainContentBytes: nil) { segment in
            if segment.source != inventory.source {
                try inventory.finishSource()
                inventory.source = segment.source
            }
            try segment.bytes.withUnsafeBufferPointer { try inventory.add($0) }
            bytes += segment.bytes.count
            progress?(PrepareProgress(phase: "scan", bytesDone: reader.fileBytesRead, totalBytes: totalFileBytes,
                                      elapsedSeconds: Date().timeIntervalSince(start)))
        }
        try inventory.finishSource()
        let scalars = inventory.scalars
        guard !scalars.isEmpty else { throw DataError.emptyCorpus }
        return (CharTokenizer(characters: scalars), bytes)
    }

    /// Encodes each segment (ordinary text), splitting the batch into `workers` runs of similar size.
    private static func encodeInParallel(_ segments: [TextSegment], tokenizer: any Tokenizer,
                                         workers: Int) throws -> [[Int]] {
        guard !segments.isEmpty else { return [] }
        let total = segments.reduce(0) { $0 + $1.bytes.count }
        var bounds = [0]
        var running = 0
        for (index, segment) in segments.enumerated() {
            running += segment.bytes.count
            if bounds.count < workers, running * workers >= total * bounds.count, index + 1 < segments.count {
                bounds.append(index + 1)
            }
        }
        bounds.append(segments.count)
        let runs = bounds.count - 1
        let results = ConcurrentSlots<Result<[[Int]], Error>>(count: runs)
        DispatchQueue.concurrentPerform(iterations: runs) { run in
            results.set(run, Result {
                try segments[bounds[run]..<bounds[run + 1]].map { segment in
                    var ids: [Int] = []
                    ids.reserveCapacity(segment.bytes.count / 3)
                    try segment.bytes.withUnsafeBufferPointer { try tokenizer.encodeOrdinary(utf8: $0, into: &ids) }
                    return ids
                }
            })
        }
        return try (0..<runs).flatMap { try results.value($0).get() }
    }
}
