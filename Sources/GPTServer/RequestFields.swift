// Typed reading of a JSON request body. Unknown fields are ignored (as OpenAI's API does);
// a known field with the wrong type or outside its range is an `APIError` naming it.
// JSONSerialization is used rather than Codable so the error can name the exact field.
import Foundation

struct RequestFields {
    let object: [String: Any]

    /// Parses a body: 400 for bytes that are not UTF-8, not JSON, or not a JSON object.
    init(body: Data) throws {
        guard String(data: body, encoding: .utf8) != nil else {
            throw APIError.invalid("the request body is not valid UTF-8")
        }
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) } catch {
            throw APIError.invalid("the request body is not valid JSON: \(Self.reason(error))")
        }
        guard let object = value as? [String: Any] else { throw APIError.invalid("the request body must be a JSON object") }
        self.object = object
    }

    init(object: [String: Any]) { self.object = object }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func bool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, isJSONBool(n) else { throw wrongType(key, "a boolean") }
        return n.boolValue
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, !isJSONBool(n) else { throw wrongType(key, "an integer") }
        let d = n.doubleValue
        guard d.rounded() == d, let i = Int(exactly: d) else { throw wrongType(key, "an integer") }
        guard range.contains(i) else {
            throw APIError.invalid("\(key) must be in \(range.lowerBound)...\(range.upperBound), got \(i)", param: key)
        }
        return i
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, !isJSONBool(n) else { throw wrongType(key, "a number") }
        let d = n.doubleValue
        guard d.isFinite, range.contains(d) else {
            throw APIError.invalid("\(key) must be in \(range.lowerBound)...\(range.upperBound), got \(d)", param: key)
        }
        return d
    }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw wrongType(key, "a string") }
        return s
    }

    func wrongType(_ key: String, _ expected: String) -> APIError {
        APIError.invalid("\(key) must be \(expected)", param: key)
    }
}

/// Whether a parsed JSON value was `true`/`false` rather than a number: both arrive as NSNumber,
/// and Foundation on Linux has no CFBooleanGetTypeID, but booleans are their own class.
func isJSONBool(_ n: NSNumber) -> Bool {
    String(describing: type(of: n)).contains("Boolean")
}
