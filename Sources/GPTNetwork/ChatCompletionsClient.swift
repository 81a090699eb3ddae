// A client for an OpenAI-compatible `/v1/chat/completions` (a running `gpt serve`), for
// `gpt chat --server URL`. With streaming, the Server-Sent Events are parsed as they
// arrive (`data: {json}` lines, `data: [DONE]` at the end) and each delta's content is
// handed on at once; `cancel` (Ctrl-C) ends the request and keeps what came so far.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public final class ChatCompletionsClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: the mutable state is touched only on the session's serial delegate queue,
    // and read by `send` after the semaphore says the task is over.
    public struct Failed: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    public let endpoint: URL
    public let apiKey: String?
    private var onText: (String) -> Void = { _ in }
    private var buffer = Data()
    private var body = Data()
    private var status = 0
    private var failure: String?
    private var finished = DispatchSemaphore(value: 0)
    private var task: URLSessionDataTask?
    private lazy var session: URLSession = {
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        return URLSession(configuration: .default, delegate: self, delegateQueue: queue)
    }()

    /// `server` is the server's base URL (`http://127.0.0.1:8080` or `.../v1`).
    public init(server: URL, apiKey: String? = nil) {
        var base = server.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        endpoint = URL(string: base + "/chat/completions")!  // a valid URL plus a fixed path stays valid
        self.apiKey = apiKey
    }

    /// Sends `messages` ({"role", "content"} objects) with `parameters` (max_tokens, temperature, seed ...),
    /// streaming; `onText` sees each piece of the reply. Returns the whole reply.
    public func send(messages: [[String: String]], parameters: [String: Any] = [:], timeout: TimeInterval = 600,
                     onText: @escaping (String) -> Void) throws -> String {
        var object = parameters
        object["messages"] = messages
        object["stream"] = true
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.timeoutInterval = timeout
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONSerialization.data(withJSONObject: object)
        var reply = ""
        self.onText = { reply += $0; onText($0) }
        buffer = Data(); body = Data(); status = 0; failure = nil
        finished = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request)
        self.task = task
        task.resume()
        finished.wait()
        if let failure { throw Failed(reason: failure) }
        guard status == 200 else {
            let message = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])
                .flatMap { ($0["error"] as? [String: Any])?["message"] as? String }
            throw Failed(reason: "\(endpoint) answered HTTP \(status)" + (message.map { ": \($0)" } ?? ""))
        }
        return reply
    }

    /// Stops the reply in progress (what arrived is kept).
    public func cancel() { task?.cancel() }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                           completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard status == 200 else { body.append(data); return }
        buffer.append(data)
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
            buffer.removeSubrange(buffer.startIndex...newline)
            guard line.hasPrefix("data: ") else { continue }
            let payload = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
            guard payload != "[DONE]", let json = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
            if let error = json["error"] as? [String: Any] { failure = "the server reported: \(error["message"] ?? "an error")" }
            guard let choices = json["choices"] as? [[String: Any]], let delta = choices.first?["delta"] as? [String: Any],
                  let content = delta["content"] as? String, !content.isEmpty else { continue }
            onText(content)
        }
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error = error as? URLError, error.code == .cancelled {
            // Cancelled by `cancel`: the partial reply stands.
        } else if let error {
            failure = "cannot reach \(endpoint): \(error.localizedDescription)"
        }
        finished.signal()
    }
}
