// JSON responses and Server-Sent Events frames from plain dictionaries.
import Foundation
import Hummingbird

enum JSONBody {
    static func data(_ object: Any) -> Data {
        // Our own dictionaries hold only JSON types, so this cannot fail; an empty object if it somehow does.
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func buffer(_ object: Any) -> ByteBuffer { ByteBuffer(bytes: data(object)) }

    static func response(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer(object)))
    }

    /// One SSE event: `data: {json}\n\n`.
    static func event(_ object: Any) -> ByteBuffer {
        var bytes = Data("data: ".utf8)
        bytes.append(data(object))
        bytes.append(contentsOf: Array("\n\n".utf8))
        return ByteBuffer(bytes: bytes)
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    /// An SSE comment: clients ignore it; it keeps a quiet connection (a long prefill) alive.
    static let ping = ByteBuffer(string: ": ping\n\n")
}
