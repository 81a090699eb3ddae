// Resolves the `--tokenizer char|gpt2|PATH` argument of ../shared/CLI.md.
// `gpt2`: the rank file from GPT2_TOKENIZER_FILE, else the user cache
// ($XDG_CACHE_HOME/swift-gpt/gpt2.tiktoken, default ~/.cache), else downloaded
// there from OpenAI's public URL and checked against the SHA-256 tiktoken pins.
// The cached file is checked against that pin on every load (a truncated cache would
// otherwise give wrong ids), and GPT2_TOKENIZER_FILE must hold GPT-2's 50,256 ranks.
// PATH: a .tiktoken rank file, a vocab.json with merges.txt beside it, a
// swift-gpt tokenizer file, or a directory holding one of these.
import Foundation
import GPTIO
import GPTNetwork
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum TokenizerLoader {
    /// Where GPT-2's ranks are published (tiktoken's r50k_base, identical to gpt2.tiktoken).
    public static let gpt2URL = URL(string: "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken")!
    /// The SHA-256 tiktoken pins for that file.
    public static let gpt2SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
    /// Ranks in GPT-2's file: the 256 bytes and 50,000 merges (`<|endoftext|>` is 50256, after them).
    public static let gpt2RankCount = 50_256

    /// Loads the tokenizer `spec` names. `char` cannot be loaded this way: its
    /// alphabet comes from a corpus (`gpt prepare`) and lives in a tokenizer file.
    public static func load(_ spec: String) throws -> any Tokenizer {
        switch spec {
        case "gpt2":
            let url = try gpt2RankFile()
            let tokenizer = try TiktokenRankFile.load(url, name: "gpt2")
            guard tokenizer.ordinaryTokenCount == gpt2RankCount else {
                throw TokenizerError.malformedVocabulary(
                    path: url.path, reason: "has \(tokenizer.ordinaryTokenCount) ranks, GPT-2 has \(gpt2RankCount) "
                        + "(256 bytes and 50,000 merges): the file is truncated or not GPT-2's")
            }
            return tokenizer
        case "char":
            throw TokenizerError.unknownTokenizer(
                spec: spec, reason: "a character tokenizer is built from a corpus; pass the "
                    + "\(TokenizerFile.defaultFileName) that `gpt prepare --tokenizer char` wrote")
        default:
            return try load(path: URL(fileURLWithPath: spec), spec: spec)
        }
    }

    private static func load(path url: URL, spec: String) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.unknownTokenizer(spec: spec, reason: "no such file; expected char, gpt2 or a path")
        }
        if isDirectory.boolValue {
            let candidates = [TokenizerFile.defaultFileName, "vocab.json"]
            guard let name = candidates.first(where: {
                FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path)
            }) else {
                throw TokenizerError.unknownTokenizer(
                    spec: spec, reason: "the directory holds neither \(candidates.joined(separator: " nor "))")
            }
            return try load(path: url.appendingPathComponent(name), spec: spec)
        }
        if url.pathExtension == "tiktoken" { return try TiktokenRankFile.load(url) }
        let head = try TextFile.readBytes(url).prefix(4096)
        if TokenizerFile.isTokenizerFile(head) { return try TokenizerFile.load(url) }
        if url.pathExtension == "json" {
            let merges = url.deletingLastPathComponent().appendingPathComponent("merges.txt")
            guard FileManager.default.fileExists(atPath: merges.path) else {
                throw TokenizerError.unknownTokenizer(spec: spec, reason: "a vocab.json needs merges.txt beside it (\(merges.path))")
            }
            return try VocabMergesFiles.load(vocabulary: url, merges: merges)
        }
        return try TiktokenRankFile.load(url)
    }

    /// The GPT-2 rank file, downloading it into the cache if needed.
    public static func gpt2RankFile() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["GPT2_TOKENIZER_FILE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let cacheRoot = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let cached = cacheRoot.appendingPathComponent("swift-gpt/gpt2.tiktoken")
        if FileManager.default.fileExists(atPath: cached.path) {
            let digest = SHA256.hex(of: try TextFile.readBytes(cached))
            guard digest == gpt2SHA256 else {
                throw TokenizerError.malformedVocabulary(
                    path: cached.path, reason: "the cached GPT-2 ranks have SHA-256 \(digest), not the pinned \(gpt2SHA256) "
                        + "(truncated or changed); delete the file to download it again")
            }
            return cached
        }
        let data = try download(gpt2URL)
        guard SHA256.hex(of: data) == gpt2SHA256 else {
            throw TokenizerError.unknownTokenizer(spec: "gpt2", reason: "the file downloaded from \(gpt2URL) has the wrong SHA-256")
        }
        do {
            try FileManager.default.createDirectory(at: cached.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw TokenizerError.unwritableFile(path: cached.deletingLastPathComponent().path,
                                                reason: "cannot create the cache directory (\(FileAccessError.words(error)))")
        }
        do {
            try AtomicFile.write(data, to: cached)
        } catch let AtomicFileError.failed(_, step, code) {
            throw TokenizerError.unwritableFile(path: cached.path, reason: "\(FileAccessError.words(errno: code)) (\(step) failed)")
        }
        return cached
    }

    private static func download(_ url: URL) throws -> Data {
        do { return try Download.data(from: url) } catch {
            throw TokenizerError.unknownTokenizer(
                spec: "gpt2", reason: "the GPT-2 ranks are not cached and could not be downloaded from \(url); "
                    + "set GPT2_TOKENIZER_FILE to a gpt2.tiktoken file or pass --tokenizer PATH")
        }
    }
}
