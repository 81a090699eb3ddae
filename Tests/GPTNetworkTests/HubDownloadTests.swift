// hf:NAME against a stand-in for the Hugging Face hub on 127.0.0.1 (nothing here touches the
// internet): a tiny GPT-2 written with our own code is served under the hub's URL paths, then
// fetched into a temporary cache laid out as huggingface_hub lays it out, loaded, and fetched
// again from the cache alone. Also: a cache written by Python (symlinks into blobs/) is read
// without the network, HF_HUB_OFFLINE, 404 and 401, and a download cut off halfway.
import Foundation
import GPTCore
import GPTKernels
import GPTNetwork
import GPTTokenizer
import GPTTraining
import Hummingbird
import Logging
import XCTest

/// Serves `files` of one repository at /{repository}/resolve/{main or commit}/{file}, as the hub
/// does (X-Repo-Commit and ETag headers), counting requests; files in `cut` stop halfway.
final class LoopbackHub: @unchecked Sendable {
    static let commit = "0123456789abcdef0123456789abcdef01234567"
    let repository: String
    let files: [String: Data]
    private let lock = NSLock()
    private var _requests: [String] = []
    private var _cut: Set<String> = []
    private var _status: Int?
    private(set) var port = 0
    private var task: Task<Void, Error>?

    var requests: [String] { lock.withLock { _requests } }
    /// Files whose body ends after half its Content-Length, the connection then closed.
    var cut: Set<String> { get { lock.withLock { _cut } } set { lock.withLock { _cut = newValue } } }
    /// A status every request gets instead of its file (401, say).
    var status: Int? { get { lock.withLock { _status } } set { lock.withLock { _status = newValue } } }

    init(repository: String, files: [String: Data]) { self.repository = repository; self.files = files }

    func start() async throws {
        let router = Router()
        router.add(middleware: Responder(hub: self))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "loopback-hub")
        logger.logLevel = .critical  // a cut-off body and the shutdown log errors that are expected here
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        port = await iterator.next() ?? 0
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
    }

    var environment: [String: String] { ["HF_ENDPOINT": "http://127.0.0.1:\(port)"] }

    func respond(_ path: String) -> Response {
        lock.withLock { _requests.append(path) }
        if let status { return Response(status: .init(code: status)) }
        // A renamed repository answers at its old name with a redirect to the new one (as gpt2 → openai-community/gpt2).
        if path.hasPrefix("/old-name/resolve/") {
            return Response(status: .temporaryRedirect, headers: [.location: "/\(repository)" + path.dropFirst("/old-name".count)])
        }
        let prefix = "/\(repository)/resolve/"
        guard path.hasPrefix(prefix) else { return Response(status: .notFound) }
        let rest = path.dropFirst(prefix.count).split(separator: "/", maxSplits: 1)
        guard rest.count == 2, rest[0] == "main" || rest[0] == Self.commit, let data = files[String(rest[1])] else {
            return Response(status: .notFound)
        }
        let headers: HTTPFields = [.init("X-Repo-Commit")!: Self.commit, .eTag: "\"\(ContentTag.of(data))\""]
        if cut.contains(String(rest[1])) {
            let half = ByteBuffer(bytes: data.prefix(data.count / 2))
            return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: data.count) { writer in
                try await writer.write(half)
                throw CancellationError()  // the connection closes with the body unfinished
            })
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct Responder<Context: RequestContext>: RouterMiddleware {
        let hub: LoopbackHub
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            hub.respond(request.uri.path)
        }
    }
}

/// A stable hex tag of a file's bytes, for the stand-in's ETags (FNV-1a: any stable hex string serves).
enum ContentTag {
    static func of(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}

final class HubDownloadTests: XCTestCase {
    var work: URL!
    var hub: LoopbackHub!
    var quiet: HubSource!

    /// A 1-layer GPT-2 over bytes (vocab.json: the 256 byte tokens and <|endoftext|>, no merges).
    static func tinyModelFiles() throws -> [String: Data] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-hub-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try GPT(config: GPTConfig(vocabSize: 257, contextLength: 16, embeddingSize: 16, layerCount: 1, headCount: 2),
                            seed: 7, pool: try ThreadPool(threads: 1))
        try HuggingFaceGPT2.save(model, to: directory)
        var vocabulary: [String: Int] = ["<|endoftext|>": 256]
        for byte in 0...255 { vocabulary[ByteLevelAlphabet.string(for: [UInt8(byte)])] = byte }
        return ["config.json": try Data(contentsOf: directory.appendingPathComponent("config.json")),
                "model.safetensors": try Data(contentsOf: directory.appendingPathComponent("model.safetensors")),
                "vocab.json": try JSONSerialization.data(withJSONObject: vocabulary),
                "merges.txt": Data("#version: 0.2\n".utf8)]
    }

    override func setUp() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        hub = LoopbackHub(repository: "tiny-org/tiny-gpt2", files: try Self.tinyModelFiles())
        try await hub.start()
        quiet = source()
    }

    override func tearDown() async throws {
        await hub.stop()
        try? FileManager.default.removeItem(at: work)
    }

    func source(offline: Bool = false) -> HubSource {
        var environment = hub.environment
        environment["HF_HUB_CACHE"] = work.appendingPathComponent("hub").path
        if offline { environment["HF_HUB_OFFLINE"] = "1" }
        var source = HubSource(environment: environment)
        source.log = { _ in }
        return source
    }

    func locate(_ spec: String = "hf:tiny-org/tiny-gpt2", offline: Bool = false) throws -> URL {
        try CheckpointLocation.locate(spec, hub: source(offline: offline))
    }

    func testDownloadsIntoTheHubLayoutThenLoadsAndReusesTheCache() throws {
        let snapshot = try locate()
        let folder = work.appendingPathComponent("hub/models--tiny-org--tiny-gpt2")
        XCTAssertEqual(snapshot.standardizedFileURL.path,
                       folder.appendingPathComponent("snapshots/\(LoopbackHub.commit)").standardizedFileURL.path)
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("refs/main"), encoding: .utf8), LoopbackHub.commit)
        // Each file is a relative symlink into blobs/ holding exactly the served bytes.
        for (name, data) in hub.files {
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: snapshot.appendingPathComponent(name).path)
            XCTAssertTrue(link.hasPrefix("../../blobs/"), link)
            XCTAssertEqual(try Data(contentsOf: snapshot.appendingPathComponent(name)), data, name)
        }
        XCTAssertEqual(Set(hub.requests), Set(["config.json", "model.safetensors", "vocab.json", "merges.txt"].map {
            $0 == "config.json" ? "/tiny-org/tiny-gpt2/resolve/main/\($0)" : "/tiny-org/tiny-gpt2/resolve/\(LoopbackHub.commit)/\($0)"
        }), "the first file asks for main; the rest for the commit it named")
        let incomplete = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("blobs").path)
            .filter { $0.hasSuffix(".incomplete") }
        XCTAssertEqual(incomplete, [])

        // What was fetched loads as a model and a tokenizer.
        let model = try HuggingFaceGPT2.load(directory: snapshot, pool: try ThreadPool(threads: 1))
        XCTAssertEqual(model.config.vocabSize, 257)
        XCTAssertEqual(try TokenizerLoader.load(snapshot.path).encode("hi"), [104, 105])

        // A second run asks the network for nothing, online or offline.
        let before = hub.requests.count
        XCTAssertEqual(try locate().path, snapshot.path)
        XCTAssertEqual(try locate(offline: true).path, snapshot.path)
        XCTAssertEqual(hub.requests.count, before)
    }

    func testFollowsTheHubsRedirectForARenamedRepository() throws {
        let snapshot = try locate("hf:old-name")
        XCTAssertTrue(snapshot.path.hasSuffix("models--old-name/snapshots/\(LoopbackHub.commit)"), snapshot.path)
        XCTAssertEqual(try Data(contentsOf: snapshot.appendingPathComponent("model.safetensors")), hub.files["model.safetensors"])
    }

    func testReadsACacheThatPythonWroteWithoutTheNetwork() throws {
        // huggingface_hub's layout: refs/main, blobs named by ETag, snapshot symlinks into them.
        let folder = work.appendingPathComponent("hub/models--gpt2")
        let commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
        let snapshot = folder.appendingPathComponent("snapshots/\(commit)")
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        try Data(commit.utf8).write(to: folder.appendingPathComponent("refs/main"))
        for (name, data) in hub.files {
            let blob = ContentTag.of(data) + name.count.description
            try data.write(to: folder.appendingPathComponent("blobs/\(blob)"))
            try FileManager.default.createSymbolicLink(atPath: snapshot.appendingPathComponent(name).path,
                                                       withDestinationPath: "../../blobs/\(blob)")
        }
        XCTAssertEqual(try locate("hf:gpt2", offline: true).path, snapshot.path)
        // Without the tokenizer files (transformers fetches only the model), offline still finds the model.
        try FileManager.default.removeItem(at: snapshot.appendingPathComponent("vocab.json"))
        XCTAssertEqual(try locate("hf:gpt2", offline: true).path, snapshot.path)
        try FileManager.default.createSymbolicLink(atPath: snapshot.appendingPathComponent("vocab.json").path,
                                                   withDestinationPath: "../../blobs/\(ContentTag.of(hub.files["vocab.json"]!))10")
        XCTAssertEqual(try locate("hf:gpt2").path, snapshot.path)
        XCTAssertEqual(hub.requests, [], "a complete cache is read without asking the hub")
        XCTAssertEqual(try HuggingFaceGPT2.load(directory: snapshot, pool: try ThreadPool(threads: 1)).config.layerCount, 1)
    }

    func testOfflineModeNamesWhatIsMissing() throws {
        XCTAssertThrowsError(try locate(offline: true)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("HF_HUB_OFFLINE") && text.contains("config.json") && text.contains("model.safetensors"), text)
        }
        XCTAssertEqual(hub.requests, [])
    }

    func testAMissingRepositoryOrFileIsA404AndAPrivateOneA401() throws {
        XCTAssertThrowsError(try locate("hf:nobody/nothing")) { error in
            XCTAssertEqual(error as? HubError, .notFound(model: "hf:nobody/nothing", file: "config.json",
                                                         url: "http://127.0.0.1:\(hub.port)/nobody/nothing/resolve/main/config.json"))
        }
        hub.status = 401
        XCTAssertThrowsError(try locate()) { error in
            guard case .unauthorized(_, 401, _)? = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("HF_TOKEN"), "\(error)")
        }
    }

    func testAnInterruptedDownloadLeavesNoFileThatLooksComplete() throws {
        hub.cut = ["model.safetensors"]
        XCTAssertThrowsError(try locate()) { error in
            guard case .download(_, "model.safetensors", _)? = error as? HubError else { return XCTFail("\(error)") }
        }
        let folder = work.appendingPathComponent("hub/models--tiny-org--tiny-gpt2")
        let snapshot = folder.appendingPathComponent("snapshots/\(LoopbackHub.commit)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: snapshot.appendingPathComponent("model.safetensors").path))
        let blobs = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("blobs").path)
        XCTAssertEqual(blobs.count, 1, "only config.json's blob: \(blobs)")
        // Offline, the half-fetched model is reported missing, not loaded.
        XCTAssertThrowsError(try locate(offline: true)) { XCTAssertTrue("\($0)".contains("model.safetensors"), "\($0)") }
        // Once the hub answers in full, the next run completes the snapshot.
        hub.cut = []
        let complete = try locate()
        XCTAssertEqual(try Data(contentsOf: complete.appendingPathComponent("model.safetensors")), hub.files["model.safetensors"])
    }

    func testRefusesNamesThatAreNotHubNames() {
        for bad in ["hf:", "hf:../etc", "hf:a/b/c", "hf:a//b", "hf:x y", "hf:gpt2@", "hf:gpt2@../x", "hf:.."] {
            XCTAssertThrowsError(try HubModel(bad), bad)
        }
        XCTAssertEqual(try HubModel("hf:openai-community/gpt2@v1.0").repository, "openai-community/gpt2")
        XCTAssertEqual(try HubModel("hf:gpt2").revision, "main")
    }

    func testTheCacheRootFollowsHuggingFaceHubsVariables() {
        XCTAssertEqual(HubCache(environment: ["HF_HUB_CACHE": "/a", "HF_HOME": "/b"]).root.path, "/a")
        XCTAssertEqual(HubCache(environment: ["HF_HOME": "/b", "XDG_CACHE_HOME": "/c"]).root.path, "/b/hub")
        XCTAssertEqual(HubCache(environment: ["XDG_CACHE_HOME": "/c"]).root.path, "/c/huggingface/hub")
        XCTAssertTrue(HubCache(environment: [:]).root.path.hasSuffix("/.cache/huggingface/hub"))
    }
}
