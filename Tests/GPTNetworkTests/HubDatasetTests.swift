// The pre-training corpora of `gpt data fineweb10B` and `gpt data tinystories` against the
// loopback stand-in for the hub (nothing here touches the internet): dataset repositories are
// fetched from /datasets/ORG/NAME/resolve/… into datasets--ORG--NAME in the cache, a file in
// the cache is never fetched twice, a shard with a bad header is refused by name and dropped
// from the cache, a user's different file is never replaced, offline and 404 are one-line
// errors, and TinyStories' text becomes <|endoftext|>-led stories in llm.c shards.
import Foundation
import GPTData
import GPTNetwork
import GPTTestSupport
import GPTTokenizer
import XCTest

final class HubDatasetTests: XCTestCase {
    var work: URL!
    var hubs: [LoopbackHub] = []

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        for hub in hubs { await hub.stop() }
        try? FileManager.default.removeItem(at: work)
    }

    func serve(_ repository: String, _ files: [String: Data]) async throws -> LoopbackHub {
        let hub = LoopbackHub(repository: "datasets/" + repository, files: files)
        try await hub.start()
        hubs.append(hub)
        return hub
    }

    func source(_ hub: LoopbackHub, cache: String = "hub", offline: Bool = false) -> HubSource {
        var environment = hub.environment
        environment["HF_HUB_CACHE"] = work.appendingPathComponent(cache).path
        if offline { environment["HF_HUB_OFFLINE"] = "1" }
        var source = HubSource(environment: environment)
        source.log = { _ in }
        return source
    }

    static func shard(_ ids: [UInt16], magic: Int32 = LLMCShard.magic, count: Int? = nil) -> Data {
        var header = [Int32](repeating: 0, count: LLMCShard.headerInts)
        header[0] = magic; header[1] = 1; header[2] = Int32(count ?? ids.count)
        return header.map(\.littleEndian).withUnsafeBytes { Data($0) } + ids.map(\.littleEndian).withUnsafeBytes { Data($0) }
    }

    static let fineWeb: [String: Data] = [
        "fineweb_val_000000.bin": shard([1, 2, 3, 4, 5]),
        "fineweb_train_000001.bin": shard(Array(0..<100)),
        "fineweb_train_000002.bin": shard(Array(100..<150)),
        "fineweb_train_000003.bin": shard([7, 7], count: 9),  // the header claims more ids than follow
    ]

    func testFineWebShardsAreCachedOnceLinkedAndReadAsOneCorpus() async throws {
        let hub = try await serve(HubDatasets.fineWebRepository, Self.fineWeb)
        let out = work.appendingPathComponent("fineweb")
        let links = try HubDatasets.fineWeb10B(shards: 2, into: out, hub: source(hub))
        XCTAssertEqual(links.map(\.lastPathComponent), ["fineweb_val_000000.bin", "fineweb_train_000001.bin", "fineweb_train_000002.bin"])
        XCTAssertEqual(Set(hub.requests), Set(["/datasets/kjj0/fineweb10B-gpt2/resolve/main/fineweb_val_000000.bin",
                                              "/datasets/kjj0/fineweb10B-gpt2/resolve/\(LoopbackHub.commit)/fineweb_train_000001.bin",
                                              "/datasets/kjj0/fineweb10B-gpt2/resolve/\(LoopbackHub.commit)/fineweb_train_000002.bin"]))
        let snapshot = work.appendingPathComponent("hub/datasets--kjj0--fineweb10B-gpt2/snapshots/\(LoopbackHub.commit)")
        XCTAssertEqual(try Data(contentsOf: snapshot.appendingPathComponent("fineweb_train_000002.bin")), Self.fineWeb["fineweb_train_000002.bin"])
        XCTAssertEqual(try String(contentsOf: work.appendingPathComponent("hub/datasets--kjj0--fineweb10B-gpt2/refs/main"), encoding: .utf8),
                       LoopbackHub.commit)
        let shards = LLMCShard.shards(in: out)
        let train = TokenShards(try shards.train.map { try LLMCShard.open($0).file })
        XCTAssertEqual(train.allTokens(), (0..<150).map(Int32.init))

        // Again, and again offline: everything comes from the cache.
        try HubDatasets.fineWeb10B(shards: 2, into: out, hub: source(hub))
        try HubDatasets.fineWeb10B(shards: 1, into: work.appendingPathComponent("other"), hub: source(hub, offline: true))
        XCTAssertEqual(hub.requests.count, 3, "no file is fetched twice")
    }

    func testABadShardIsRefusedByNameAndDroppedFromTheCache() async throws {
        let hub = try await serve(HubDatasets.fineWebRepository, Self.fineWeb)
        XCTAssertThrowsError(try HubDatasets.fineWeb10B(shards: 3, into: work.appendingPathComponent("fw"), hub: source(hub))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("fineweb_train_000003.bin: the file downloaded from dataset kjj0/fineweb10B-gpt2 is not a valid llm.c shard"), text)
            XCTAssertTrue(text.contains("the header says 9 tokens but the file holds 2"), text)
            XCTAssertFalse(text.contains("\n"))
        }
        let snapshot = work.appendingPathComponent("hub/datasets--kjj0--fineweb10B-gpt2/snapshots/\(LoopbackHub.commit)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: snapshot.appendingPathComponent("fineweb_train_000003.bin").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("fw/fineweb_train_000003.bin").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("fw/fineweb_train_000002.bin").path))
        XCTAssertThrowsError(try HubDatasets.fineWeb10B(shards: 104, into: work.appendingPathComponent("fw"), hub: source(hub))) {
            XCTAssertTrue("\($0)".contains("--shards 104 is outside 1...103"), "\($0)")
        }
    }

    func testOfflineMissing404AndAUsersOwnFileAreOneLineRefusals() async throws {
        var files = Self.fineWeb
        files["fineweb_train_000002.bin"] = nil
        let hub = try await serve(HubDatasets.fineWebRepository, files)
        XCTAssertThrowsError(try HubDatasets.fineWeb10B(shards: 1, into: work.appendingPathComponent("a"), hub: source(hub, offline: true))) {
            XCTAssertTrue("\($0)".contains("HF_HUB_OFFLINE is set") && "\($0)".contains("fineweb_val_000000.bin"), "\($0)")
        }
        XCTAssertTrue(hub.requests.isEmpty)
        XCTAssertThrowsError(try HubDatasets.fineWeb10B(shards: 2, into: work.appendingPathComponent("a"), hub: source(hub))) {
            XCTAssertEqual("\($0)", "dataset kjj0/fineweb10B-gpt2: fineweb_train_000002.bin not found on the hub (404 for "
                           + "http://127.0.0.1:\(hub.port)/datasets/kjj0/fineweb10B-gpt2/resolve/\(LoopbackHub.commit)/fineweb_train_000002.bin)")
        }
        let mine = work.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: mine, withIntermediateDirectories: true)
        let own = mine.appendingPathComponent("fineweb_train_000001.bin")
        try Data("my notes".utf8).write(to: own)
        XCTAssertThrowsError(try HubDatasets.fineWeb10B(shards: 1, into: mine, hub: source(hub))) {
            XCTAssertTrue("\($0)".contains("\(own.path): it exists and differs from the downloaded fineweb_train_000001.bin; not replaced"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: own), Data("my notes".utf8))
        // The same bytes under that name are accepted as they are.
        try Self.fineWeb["fineweb_train_000001.bin"]!.write(to: own)
        XCTAssertNoThrow(try HubDatasets.fineWeb10B(shards: 1, into: mine, hub: source(hub)))
    }

    /// GPT-2's byte-level alphabet as a vocabulary of the 256 bytes plus <|endoftext|> (no merges): each
    /// byte of a story encodes to its own value, so the expected ids are plain to write down.
    func byteTokenizer() throws -> any Tokenizer {
        let directory = work.appendingPathComponent("bytes")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var vocabulary: [String: Int] = ["<|endoftext|>": 256]
        for byte in 0...255 { vocabulary[ByteLevelAlphabet.string(for: [UInt8(byte)])] = byte }
        try JSONSerialization.data(withJSONObject: vocabulary).write(to: directory.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
        return try TokenizerLoader.load(directory.appendingPathComponent("vocab.json").path)
    }

    func testTinyStoriesBecomeEndOfTextLedStoriesInShards() async throws {
        let train = "Once upon a time, a cat sat.\n<|endoftext|>\n  Tom had a red ball. He was happy.  \n<|endoftext|>\n<|endoftext|>\nThe end é"
        let valid = "A dog ran.\n<|endoftext|>\nIt rained.\n"
        let hub = try await serve(HubDatasets.tinyStoriesRepository, ["TinyStoriesV2-GPT4-train.txt": Data(train.utf8),
                                                                       "TinyStoriesV2-GPT4-valid.txt": Data(valid.utf8)])
        let tokenizer = try byteTokenizer()
        let out = work.appendingPathComponent("tinystories")
        let counts = try HubDatasets.tinyStories(into: out, tokenizer: tokenizer, hub: source(hub), shardTokens: 40, threads: 2)
        func expected(_ stories: [String]) -> [Int32] { stories.flatMap { [256] + $0.utf8.map(Int32.init) } }
        let trainIDs = expected(["Once upon a time, a cat sat.", "Tom had a red ball. He was happy.", "The end é"])
        let validIDs = expected(["A dog ran.", "It rained."])
        XCTAssertEqual(counts, ["train": trainIDs.count, "val": validIDs.count])
        let dataset = try PreparedDataset(directory: out)
        XCTAssertEqual(dataset.train.allTokens(), trainIDs)
        XCTAssertEqual(dataset.validation.allTokens(), validIDs)
        XCTAssertEqual(dataset.train.files.count, (trainIDs.count + 39) / 40, "shards of at most 40 ids")
        XCTAssertEqual(dataset.tokenizer.vocabularySize, 257)
        XCTAssertTrue(FileManager.default.fileExists(
            atPath: work.appendingPathComponent("hub/datasets--roneneldan--TinyStories/snapshots/\(LoopbackHub.commit)/TinyStoriesV2-GPT4-train.txt").path))

        // A second run keeps the finished splits and fetches nothing.
        let requests = hub.requests.count
        XCTAssertEqual(try HubDatasets.tinyStories(into: out, tokenizer: tokenizer, hub: source(hub, offline: true)), counts)
        XCTAssertEqual(hub.requests.count, requests)
    }

    /// With GPT-2's tokenizer (../shared), the shards equal what Hugging Face `tokenizers`' GPT-2 BPE gives
    /// for llm.c's rule (<|endoftext|>, then the stripped story) on stories with punctuation, digits,
    /// accents, emoji, CRLF and runs of spaces.
    func testTinyStoriesShardsEqualHuggingFaceTokenizersGPT2() async throws {
        let gpt2 = try SharedData.gpt2()
        let vocab = try SharedData.file("gpt2-vocab.json"), merges = try SharedData.file("gpt2-merges.txt")
        let stories = ["Once upon a time, there was a girl named Lily. She was 3 years old!",
                       "  \"Mom,\" said Tom, \"can I have 12 cookies?\"   Mom said no.\r\n",
                       "The café was closed. 🙂 They went home…\n\nThe end.",
                       "Ben's dog   ran    fast; it's      fun.\t"]
        let text = stories.joined(separator: "\n<|endoftext|>\n")
        let hub = try await serve(HubDatasets.tinyStoriesRepository, ["TinyStoriesV2-GPT4-train.txt": Data(text.utf8),
                                                                       "TinyStoriesV2-GPT4-valid.txt": Data(text.utf8)])
        let out = work.appendingPathComponent("gpt2-stories")
        try HubDatasets.tinyStories(into: out, tokenizer: gpt2, hub: source(hub))
        let ours = try PreparedDataset(directory: out).train.allTokens()

        let textFile = work.appendingPathComponent("stories.txt")
        try Data(text.utf8).write(to: textFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import json, sys
            from tokenizers import ByteLevelBPETokenizer
            tok = ByteLevelBPETokenizer(sys.argv[1], sys.argv[2])
            ids = []
            for story in open(sys.argv[3], encoding="utf-8", newline="").read().split("<|endoftext|>"):
                story = story.strip()
                if story: ids += [50256] + tok.encode(story).ids
            print(json.dumps(ids))
            """, vocab.path, merges.path, textFile.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { throw XCTSkip("python3 is not available") }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("python3 with Hugging Face tokenizers is not available") }
        let expected = try JSONDecoder().decode([Int32].self, from: output)
        XCTAssertEqual(expected.filter { $0 == 50256 }.count, 4)
        XCTAssertEqual(ours, expected)
    }

    func testTinyStoriesTextIsReadInBlocksWithoutSplittingAStory() async throws {
        // Many stories in a file far larger than one read block: every story arrives whole, in order.
        let stories = (0..<3000).map { "Story \($0): " + String(repeating: "la ", count: $0 % 37) + "end." }
        let text = stories.joined(separator: "\n<|endoftext|>\n") + "\n"
        let hub = try await serve(HubDatasets.tinyStoriesRepository, ["TinyStoriesV2-GPT4-train.txt": Data(text.utf8),
                                                                       "TinyStoriesV2-GPT4-valid.txt": Data("One.".utf8)])
        XCTAssertGreaterThan(text.utf8.count, 100_000)
        let out = work.appendingPathComponent("blocks")
        try HubDatasets.tinyStories(into: out, tokenizer: try byteTokenizer(), hub: source(hub), threads: 3, blockSize: 4096)
        let ids = try PreparedDataset(directory: out).train.allTokens()
        XCTAssertEqual(ids, stories.flatMap { [256] + $0.utf8.map(Int32.init) })
    }
}
