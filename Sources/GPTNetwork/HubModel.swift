// A repository on the Hugging Face hub: a model as a command names it (`hf:NAME`,
// `hf:ORG/NAME`, or either with `@REVISION`: a branch, tag or commit; default main), or a
// dataset repository (`HubModel(dataset:)`), which the hub serves under /datasets/ and
// huggingface_hub caches as datasets--ORG--NAME.
import Foundation

public struct HubModel: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "hf:"

    /// The hub's two kinds of repository we read.
    public enum Kind: String, Sendable {
        case model, dataset
    }

    public let repository: String
    public let revision: String
    public let kind: Kind

    /// The dataset repository ORG/NAME at `revision`.
    public init(dataset repository: String, revision: String = "main") throws {
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ Self.isSafeName(String($0)) }), Self.isSafeName(revision) else {
            throw HubError.invalidName(repository, reason: "expected a dataset ORG/NAME of letters, digits, '.', '_' and '-'")
        }
        self.repository = repository
        self.revision = revision
        kind = .dataset
    }

    /// The repository's path under the hub's endpoint: ORG/NAME, or datasets/ORG/NAME.
    public var urlPath: String { kind == .dataset ? "datasets/" + repository : repository }

    /// Whether `spec` names a hub model rather than a directory.
    public static func isReference(_ spec: String) -> Bool { spec.hasPrefix(prefix) }

    /// Parses `hf:ORG/NAME[@REVISION]`; refuses names the hub would not accept (they also become
    /// paths in the cache, so `..`, empty parts and odd characters are refused).
    public init(_ spec: String) throws {
        guard Self.isReference(spec) else { throw HubError.invalidName(spec, reason: "it does not start with hf:") }
        var name = String(spec.dropFirst(Self.prefix.count))
        var revision = "main"
        if let at = name.firstIndex(of: "@") {
            revision = String(name[name.index(after: at)...])
            name = String(name[..<at])
            guard Self.isSafeName(revision) else {
                throw HubError.invalidName(spec, reason: "the revision after @ must be letters, digits, '.', '_' or '-'")
            }
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ Self.isSafeName(String($0)) }), name.count <= 96 else {
            throw HubError.invalidName(spec, reason: "expected hf:NAME or hf:ORG/NAME of letters, digits, '.', '_' and '-' (e.g. hf:gpt2)")
        }
        repository = name
        self.revision = revision
        kind = .model
    }

    public var description: String {
        (kind == .dataset ? "dataset " : Self.prefix) + repository + (revision == "main" ? "" : "@" + revision)
    }

    /// A non-empty path component of letters, digits, '.', '_' and '-', not `.` or `..`.
    static func isSafeName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 96 && text != "." && text != ".."
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    static func isCommitHash(_ text: String) -> Bool {
        text.count == 40 && text.unicodeScalars.allSatisfy { "0123456789abcdef".unicodeScalars.contains($0) }
    }
}
