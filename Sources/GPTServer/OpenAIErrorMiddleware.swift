// Turns every error a route throws (ours, Hummingbird's 404/413, anything unexpected) into
// OpenAI's error body, and checks the API key. Added before the routes, so it also wraps
// the router's not-found responder.
import Foundation
import Hummingbird

struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String?
    let maxBody: Int
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = await respond(request, context: context, next: next)
        metrics.request(status: response.status.code)
        return response
    }

    func respond(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async -> Response {
        do {
            try authorize(request)
            if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBody { throw APIError.tooLarge(limit: maxBody) }
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error)
        } catch let error as any HTTPResponseError {
            switch error.status.code {
            case 404, 405:
                return Self.response(.notFound("no route \(request.method) \(request.uri.path)", code: "unknown_url"))
            case 413: return Self.response(.tooLarge(limit: maxBody))
            case 400..<500: return Self.response(APIError(status: error.status.code, message: "\(error)", type: "invalid_request_error"))
            default: return Self.response(APIError(status: error.status.code, message: "\(error)", type: "server_error"))
            }
        } catch {
            return Self.response(APIError(status: 500, message: "internal error: \(error)", type: "server_error"))
        }
    }

    /// /health and /metrics are open, as a load balancer's probe has no key, and so is the chat page
    /// (it asks for the key and sends it); everything else needs it when set.
    func authorize(_ request: Request) throws {
        guard let apiKey, !["/", "/health", "/metrics"].contains(request.uri.path) else { return }
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("missing API key: send the header Authorization: Bearer <key>")
        }
        guard header.hasPrefix("Bearer "), constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(apiKey.utf8)) else {
            throw APIError.unauthorized("incorrect API key provided")
        }
    }

    /// Compares without stopping at the first difference, so response times do not reveal the key.
    func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    static func response(_ error: APIError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retry = error.retryAfter { headers[.retryAfter] = "\(retry)" }
        if error.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: .init(code: error.status), headers: headers, body: .init(byteBuffer: JSONBody.buffer(error.body)))
    }
}
