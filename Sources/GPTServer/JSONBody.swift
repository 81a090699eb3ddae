// JSON responses and Server-Sent Events frames from plain dictionaries.
import Foundation
import Hummingbird

public enum JSONBody {
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

    /// Appends `text` as a JSON string literal, quotes included, to `out` (RFC 8259 §7: `"` and `\`
    /// escaped, control characters as \n, \r, \t or \u00XX, everything else as its UTF-8 bytes;
    /// JSONSerialization parses it back to `text`). The per-token path of a stream writes its chunks
    /// with it: building a dictionary and serialising it cost more than the rest of a token's HTTP work.
    public static func appendString(_ text: String, to out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.writeBytes(UnsafeBufferPointer(rebasing: bytes[start..<i]))
                switch byte {
                case UInt8(ascii: "\""): out.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
                case 0x0A: out.writeStaticString("\\n")
                case 0x0D: out.writeStaticString("\\r")
                case 0x09: out.writeStaticString("\\t")
                default:
                    out.writeStaticString("\\u00")
                    out.writeInteger(hexDigits[Int(byte >> 4)])
                    out.writeInteger(hexDigits[Int(byte & 15)])
                }
                start = i + 1
            }
            out.writeBytes(UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.writeInteger(UInt8(ascii: "\""))
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    /// An SSE comment: clients ignore it; it keeps a quiet connection (a long prefill) alive.
    static let ping = ByteBuffer(string: ": ping\n\n")
}
