// An error as OpenAI's API reports it: an HTTP status and the body
// `{"error": {"message", "type", "param", "code"}}`. Every refusal of the server is one
// of these, so a client (the `openai` SDKs among them) maps it to its own exception types.
import Foundation

public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    public let retryAfter: Int?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// The JSON body.
    public var body: [String: Any] {
        ["error": ["message": message, "type": type, "param": param as Any? ?? NSNull(), "code": code as Any? ?? NSNull()]]
    }

    /// 400: a parameter (or the body as a whole) is not acceptable.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func unauthorized(_ message: String) -> APIError {
        APIError(status: 401, message: message, type: "invalid_request_error", code: "invalid_api_key")
    }

    public static func notFound(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 404, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func tooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "the request body is larger than the server's limit of \(limit) bytes (--max-body)",
                 type: "invalid_request_error", code: "request_too_large")
    }

    /// 503: the model is loading, the queue is full, or the server is shutting down.
    public static func unavailable(_ message: String, code: String, retryAfter: Int = 1) -> APIError {
        APIError(status: 503, message: message, type: "server_error", code: code, retryAfter: retryAfter)
    }
}
