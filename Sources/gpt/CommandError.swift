// A failure while a command runs: printed as one line, "Error: <message>", without the
// usage text that argument-parser adds to a `ValidationError`.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
