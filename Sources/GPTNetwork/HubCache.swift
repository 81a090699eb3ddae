// The Hugging Face hub's local cache, laid out as huggingface_hub lays it out, so files a
// user fetched with Python are found here and files fetched here are found by Python:
//
//   ROOT/models--ORG--NAME/refs/REVISION        the commit hash REVISION (e.g. main) points to
//   ROOT/models--ORG--NAME/snapshots/COMMIT/F   file F at that commit: a symlink into blobs/ in
//                                               caches huggingface_hub wrote (plain files also work)
//   ROOT/models--ORG--NAME/blobs/ETAG           the contents, one per distinct file
//
// A dataset repository has the same layout under datasets--ORG--NAME.
// ROOT is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (huggingface_hub's constants.py).
import Foundation

public struct HubCache: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// The cache `environment` names.
    public init(environment: [String: String]) {
        func set(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let hub = set("HF_HUB_CACHE") {
            root = URL(fileURLWithPath: hub)
        } else if let home = set("HF_HOME") {
            root = URL(fileURLWithPath: home).appendingPathComponent("hub")
        } else {
            let cache = set("XDG_CACHE_HOME").map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
            root = cache.appendingPathComponent("huggingface/hub")
        }
    }

    /// models--ORG--NAME for the repository ORG/NAME (models--NAME for a bare NAME); datasets--ORG--NAME
    /// for a dataset.
    public func folder(_ repository: String, kind: HubModel.Kind = .model) -> URL {
        root.appendingPathComponent((kind == .dataset ? "datasets--" : "models--") + repository.replacingOccurrences(of: "/", with: "--"))
    }

    /// The commit `revision` resolves to: the content of refs/REVISION, or `revision` itself
    /// when it is a commit hash with a snapshot; nil when the cache does not know it.
    public func commit(_ repository: String, revision: String, kind: HubModel.Kind = .model) -> String? {
        let ref = folder(repository, kind: kind).appendingPathComponent("refs").appendingPathComponent(revision)
        if let data = FileManager.default.contents(atPath: ref.path), data.count <= 256,
           let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
           HubModel.isSafeName(text) {
            return text
        }
        if HubModel.isCommitHash(revision),
           FileManager.default.fileExists(atPath: snapshot(repository, commit: revision, kind: kind).path) {
            return revision
        }
        return nil
    }

    public func snapshot(_ repository: String, commit: String, kind: HubModel.Kind = .model) -> URL {
        folder(repository, kind: kind).appendingPathComponent("snapshots").appendingPathComponent(commit)
    }

    /// Whether `file` is readable in the snapshot (a symlink must lead to a blob that exists).
    public func has(_ file: String, in snapshot: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: snapshot.appendingPathComponent(file).path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
    }
}
