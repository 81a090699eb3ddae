// The HTTP face of the engine: OpenAI's /v1 routes, /health, and llama.cpp's /tokenize and
// /detokenize, on Hummingbird 2. Handlers parse and check a request, queue it on the
// engine and shape its events as OpenAI's bodies; no model code runs here.
import Foundation
import Hummingbird
import Logging
import GPTTokenizer

public final class OpenAIServer: Sendable {
    public let configuration: ServerConfiguration
    public let engine: Engine
    let created = Int(Date().timeIntervalSince1970)

    public init(configuration: ServerConfiguration, engine: Engine) {
        self.configuration = configuration
        self.engine = engine
    }

    /// The application; `onReady(port)` runs once it listens (the port the system chose for port 0).
    public func application(logger: Logger, onReady: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: OpenAIErrorMiddleware(apiKey: configuration.apiKey, maxBody: configuration.maxBody, metrics: engine.metrics))
        router.get("/") { _, _ in
            let page = ChatPage.html(model: self.configuration.modelName, needsKey: self.configuration.apiKey != nil)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in
            let text = self.engine.metrics.text(queued: self.engine.depth.queued, running: self.engine.runningSequences)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/models") { _, _ in JSONBody.response(["object": "list", "data": [self.modelObject()]]) }
        router.get("/v1/models/:id") { _, context in
            guard context.parameters.get("id") == self.configuration.modelName else {
                throw APIError.notFound("the model \(context.parameters.get("id") ?? "") does not exist", param: "model", code: "model_not_found")
            }
            return JSONBody.response(self.modelObject())
        }
        // The generating routes keep the request's body: a non-streaming answer watches it for the client going away.
        router.post("/v1/completions") { request, _ in
            var request = request
            let fields = try await self.fields(&request)
            return try await self.completions(fields, inbound: request.body)
        }
        router.post("/v1/chat/completions") { request, _ in
            var request = request
            let fields = try await self.fields(&request)
            return try await self.chatCompletions(fields, inbound: request.body)
        }
        router.post("/tokenize") { request, _ in var request = request; return try self.tokenize(try await self.fields(&request)) }
        router.post("/detokenize") { request, _ in var request = request; return try self.detokenize(try await self.fields(&request)) }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "swift-gpt"),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? self.configuration.port) },
            logger: logger)
    }

    func health() -> Response {
        switch engine.state {
        case .ready: return JSONBody.response(["status": "ok"])
        case .loading: return JSONBody.response(["status": "loading model"], status: .serviceUnavailable)
        case let .failed(reason): return JSONBody.response(["status": "failed", "error": reason], status: .serviceUnavailable)
        case .stopping: return JSONBody.response(["status": "shutting down"], status: .serviceUnavailable)
        }
    }

    func modelObject() -> [String: Any] {
        ["id": configuration.modelName, "object": "model", "created": created, "owned_by": "swift-gpt"]
    }

    /// The body as checked JSON fields (413 past --max-body, 400 for bad UTF-8 or JSON). The collected
    /// body is stored back into `request`, which keeps the connection's inbound stream behind it (see
    /// `answerWatchingClient`).
    func fields(_ request: inout Request) async throws -> RequestFields {
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: configuration.maxBody) } catch {
            throw APIError.tooLarge(limit: configuration.maxBody)
        }
        return try RequestFields(body: Data(buffer.readableBytesView))
    }

    /// The loaded model, or 503 while it loads.
    func loaded() throws -> LoadedModel {
        guard let model = engine.model else {
            throw APIError.unavailable("the model is still loading", code: "model_loading", retryAfter: 2)
        }
        return model
    }

    /// 404 when a request names another model (the field is optional here).
    func checkModel(_ fields: RequestFields) throws {
        if let name = try fields.string("model"), name != configuration.modelName {
            throw APIError.notFound("the model \(name) does not exist; this server serves \(configuration.modelName)",
                                    param: "model", code: "model_not_found")
        }
    }

    /// llama.cpp: {"content": "...", "with_pieces": false} → {"tokens": [ids]} (or [{"id", "piece"}]).
    func tokenize(_ fields: RequestFields) throws -> Response {
        let model = try loaded()
        let content = try fields.string("content") ?? ""
        let ids: [Int]
        do { ids = try model.tokenizer.encode(content) } catch {
            throw APIError.invalid("content cannot be encoded: \(error)", param: "content")
        }
        if try fields.bool("with_pieces") ?? false {
            let pieces = ids.map { id -> [String: Any] in
                ["id": id, "piece": (try? model.tokenizer.decode([id])) ?? ""]
            }
            return JSONBody.response(["tokens": pieces])
        }
        return JSONBody.response(["tokens": ids])
    }

    /// llama.cpp: {"tokens": [ids]} → {"content": "..."}.
    func detokenize(_ fields: RequestFields) throws -> Response {
        let model = try loaded()
        let ids = try tokenIDs(fields.object["tokens"] ?? [], param: "tokens", vocabulary: model.tokenizer.vocabularySize)
        let text = (try? model.tokenizer.decode(ids.map(Int.init))) ?? ""
        return JSONBody.response(["content": text])
    }

    /// An array of integer token ids, each in the vocabulary.
    func tokenIDs(_ value: Any, param: String, vocabulary: Int) throws -> [Int32] {
        guard let array = value as? [Any] else { throw APIError.invalid("\(param) must be an array of token ids", param: param) }
        return try array.map { item in
            guard let n = item as? NSNumber, !isJSONBool(n), let id = Int(exactly: n.doubleValue) else {
                throw APIError.invalid("\(param) must hold integer token ids", param: param)
            }
            guard (0..<vocabulary).contains(id) else {
                throw APIError.invalid("token id \(id) in \(param) is outside the vocabulary (0..<\(vocabulary))", param: param)
            }
            return Int32(id)
        }
    }
}
