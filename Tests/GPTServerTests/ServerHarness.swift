// Test support: a tiny character model trained once by the `gpt` binary, a server started
// in-process on a free loopback port, and a small HTTP client. All traffic is to 127.0.0.1.
import Foundation
import GPTTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GPTServer
import Logging
import XCTest

enum Fixture {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The gpt binary next to the tests (swift build --build-tests puts it there).
    static var binary: URL? {
        [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("gpt"),
         repository.appendingPathComponent(".build/release/gpt")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static let lock = NSLock()
    nonisolated(unsafe) static var trained: String?

    /// A 1-layer, 32-token-context character model, trained for a few steps on dialogue-like lines.
    static func checkpoint() throws -> String {
        try lock.withLock {
            if let trained { return trained }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("serve-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let corpus = work.appendingPathComponent("corpus.txt")
            try String(repeating: "User: hello there, how are you?\nAssistant: the king is good and the queen is warm.\n", count: 100)
                .write(to: corpus, atomically: true, encoding: .utf8)
            let run = work.appendingPathComponent("run").path
            let (status, _, err) = try gpt(["train", "--data", corpus.path, "--steps", "200", "--eval-every", "0", "--set", "n_layer=1",
                                            "--set", "n_positions=32", "--set", "n_embd=32", "--set", "n_head=2",
                                            "--out", run, "--threads", "1"])
            guard status == 0 else { throw XCTSkip("gpt train failed: \(err)") }
            trained = run
            return run
        }
    }

    /// Runs gpt with `arguments`; returns (status, stdout, stderr).
    static func gpt(_ arguments: [String]) throws -> (Int32, String, String) {
        guard binary != nil else { throw XCTSkip("the gpt binary is not built next to the tests (run swift build -c release --build-tests)") }
        return try GPTBinary.run(arguments)
    }
}

/// An HTTP answer: status, headers (lower-cased names) and body.
struct HTTPAnswer {
    let status: Int
    let headers: [String: String]
    let body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `data:` payloads of a Server-Sent Events body, in order ("[DONE]" included).
    var events: [String] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { $0.hasPrefix("data: ") ? String($0.dropFirst(6)) : $0 }
    }

    var eventObjects: [[String: Any]] {
        events.filter { $0 != "[DONE]" }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The first choice's text (completions) or message content (chat).
    var choiceTexts: [String] {
        (json["choices"] as? [[String: Any]] ?? []).map {
            ($0["text"] as? String) ?? (($0["message"] as? [String: Any])?["content"] as? String) ?? "<none>"
        }
    }
}

final class RunningServer: @unchecked Sendable {
    let engine: Engine
    let port: Int
    let task: Task<Void, Error>
    let session: URLSession

    /// Starts a server on a free loopback port; `load` defaults to the fixture's checkpoint.
    static func start(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                      load: (@Sendable () throws -> LoadedModel)? = nil, waitForModel: Bool = true) async throws -> RunningServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.modelName = "tiny"
        configure(&configuration)
        let checkpoint = try Fixture.checkpoint()
        let engine = Engine(maxQueue: configuration.maxQueue, maxBatch: configuration.maxBatch,
                            pingInterval: configuration.pingInterval, prefillChunk: configuration.prefillChunk)
        engine.start(load: load ?? { try LoadedModel.load(checkpoint: checkpoint, tokenizer: nil, threads: 1) })
        var logger = Logger(label: "gpt-serve-tests")
        logger.logLevel = .critical
        let server = OpenAIServer(configuration: configuration, engine: engine)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task { try await server.run(logger: logger, signals: []) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw XCTSkip("the server did not start") }
        if waitForModel { _ = await engine.waitForLoad() }
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = 60
        return RunningServer(engine: engine, port: port, task: task, session: URLSession(configuration: sessionConfiguration))
    }

    init(engine: Engine, port: Int, task: Task<Void, Error>, session: URLSession) {
        self.engine = engine; self.port = port; self.task = task; self.session = session
    }

    func stop() async {
        engine.shutdown()
        task.cancel()
        _ = try? await task.value
    }

    func request(_ path: String, method: String = "POST", json: Any? = nil, body: Data? = nil,
                 headers: [String: String] = [:]) async throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let json { request.httpBody = try JSONSerialization.data(withJSONObject: json) } else if let body { request.httpBody = body }
        if request.httpBody != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)".lowercased()] = "\(value)" }
        return HTTPAnswer(status: http.statusCode, headers: fields, body: data)
    }

    func complete(_ json: [String: Any]) async throws -> HTTPAnswer { try await request("/v1/completions", json: json) }
    func chat(_ json: [String: Any]) async throws -> HTTPAnswer { try await request("/v1/chat/completions", json: json) }

    /// Polls until `condition` holds or `seconds` pass; returns whether it held.
    func wait(seconds: Double, until condition: () -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return condition()
    }
}

/// A bare TCP connection to the server on 127.0.0.1, for what URLSession cannot do: send a request
/// and then close the connection without reading the answer (a client that went away).
final class RawConnection {
    private var socket: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        socket = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard socket >= 0 else { throw XCTSkip("no socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { close(); throw XCTSkip("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
    }

    /// Sends a whole HTTP/1.1 POST of `json` to `path`.
    func post(_ path: String, json: String) throws {
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\n\r\n\(json)"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw XCTSkip("send failed: errno \(errno)") }
            sent += n
        }
    }

    func close() {
        guard socket >= 0 else { return }
        #if canImport(Glibc)
        _ = Glibc.close(socket)
        #else
        _ = Darwin.close(socket)
        #endif
        socket = -1
    }

    deinit { close() }
}
