// Makes a hub model's (or dataset's) files present in the local cache (HubCache) and says where they are.
// Files already there are used as they are, with no network at all; missing ones are
// fetched from $HF_ENDPOINT (default https://huggingface.co) at
// /{repository}/resolve/{revision}/{file} (/datasets/{repository}/... for a dataset), written as huggingface_hub writes them: the bytes
// to blobs/ (through a `.incomplete` file renamed when whole, so an interrupted download
// never leaves a file that looks complete), then a relative symlink in snapshots/COMMIT/.
// HF_HUB_OFFLINE=1 forbids the network; HF_TOKEN is sent as a Bearer token.
import Foundation

public struct HubSource: Sendable {
    public var cache: HubCache
    public var endpoint: URL
    public var offline: Bool
    public var token: String?
    /// Progress and notes for a person (standard error by default).
    public var log: @Sendable (String) -> Void

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        func set(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        cache = HubCache(environment: environment)
        endpoint = set("HF_ENDPOINT").flatMap { URL(string: $0) } ?? URL(string: "https://huggingface.co")!
        // huggingface_hub's truth values for its boolean variables.
        offline = set("HF_HUB_OFFLINE").map { ["1", "ON", "YES", "TRUE"].contains($0.uppercased()) } ?? false
        token = set("HF_TOKEN")
        log = { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// The snapshot directory of `model` once it holds every file of `required` and one complete
    /// group of `oneOf` (a group the hub does not have at all is skipped; if it has none, so be it).
    public func snapshot(_ model: HubModel, required: [String], oneOf groups: [[String]] = []) throws -> URL {
        let name = model.description
        var commit = cache.commit(model.repository, revision: model.revision, kind: model.kind)
        func present(_ file: String) -> Bool { commit.map { cache.has(file, in: cache.snapshot(model.repository, commit: $0, kind: model.kind)) } ?? false }
        let missing = required.filter { !present($0) }
        let groupPresent = groups.isEmpty || groups.contains { $0.allSatisfy(present) }
        if missing.isEmpty && groupPresent { return cache.snapshot(model.repository, commit: commit!, kind: model.kind) }
        let alternatives = groups.map { $0.joined(separator: "+") }.joined(separator: " or ")
        if offline {
            guard missing.isEmpty else { throw HubError.offline(model: name, missing: missing, cache: cache.folder(model.repository, kind: model.kind).path) }
            // A cache that transformers filled holds the model without the tokenizer files: usable with --tokenizer.
            log("note: \(name) in the cache has no \(alternatives), and HF_HUB_OFFLINE is set\n")
            return cache.snapshot(model.repository, commit: commit!, kind: model.kind)
        }
        for file in missing { try fetch(file, of: model, commit: &commit) }
        if !groupPresent {
            var found = false
            for group in groups where !found {
                do {
                    for file in group where !present(file) { try fetch(file, of: model, commit: &commit) }
                    found = true
                } catch HubError.notFound {
                    continue
                }
            }
            if !found { log("note: \(name) has no \(alternatives) on the hub\n") }
        }
        return cache.snapshot(model.repository, commit: commit!, kind: model.kind)
    }

    /// Downloads `file` into the cache and links it into the snapshot. The first download on an
    /// unknown revision learns its commit from the hub's X-Repo-Commit header and records it in refs/.
    func fetch(_ file: String, of model: HubModel, commit: inout String?) throws {
        let name = model.description
        let folder = cache.folder(model.repository, kind: model.kind)
        let blobs = folder.appendingPathComponent("blobs")
        let fm = FileManager.default
        do { try fm.createDirectory(at: blobs, withIntermediateDirectories: true) } catch {
            throw HubError.cache("cannot create \(blobs.path): \(error.localizedDescription)")
        }
        // Asking for the commit once it is known keeps every file of the snapshot at one revision.
        let url = endpoint.appendingPathComponent(model.urlPath).appendingPathComponent("resolve")
            .appendingPathComponent(commit ?? model.revision).appendingPathComponent(file)
        let partial = blobs.appendingPathComponent(UUID().uuidString.lowercased() + ".incomplete")
        defer { try? fm.removeItem(at: partial) }
        var headers: [String: String] = [:]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        let meter = ProgressMeter(file: file, log: log)
        let result: FileDownload.Result
        do {
            result = try FileDownload.fetch(url, to: partial, headers: headers) { meter.update($0, $1) }
        } catch let failure as FileDownload.Failed {
            meter.finish(ok: false)
            switch failure.status {
            case 404?: throw HubError.notFound(model: name, file: file, url: url.absoluteString)
            case 401?, 403?: throw HubError.unauthorized(model: name, status: failure.status!, url: url.absoluteString)
            default: throw HubError.download(model: name, file: file, reason: failure.reason)
            }
        }
        meter.finish(ok: true)
        if commit == nil {
            let announced = result.header("x-repo-commit").map { $0.trimmingCharacters(in: .whitespaces) }
            commit = announced.flatMap { HubModel.isSafeName($0) ? $0 : nil } ?? model.revision
        }
        // The blob is named by the hub's ETag (the content's SHA-256 for large files), as huggingface_hub names it.
        let etag = (result.header("x-linked-etag") ?? result.header("etag"))?
            .replacingOccurrences(of: "W/", with: "").replacingOccurrences(of: "\"", with: "")
        let blobName = etag.flatMap { HubModel.isSafeName($0) ? $0 : nil } ?? UUID().uuidString.lowercased()
        let blob = blobs.appendingPathComponent(blobName)
        let snapshot = cache.snapshot(model.repository, commit: commit!, kind: model.kind)
        do {
            try? fm.removeItem(at: blob)
            try fm.moveItem(at: partial, to: blob)
            try fm.createDirectory(at: snapshot.appendingPathComponent(file).deletingLastPathComponent(), withIntermediateDirectories: true)
            // A symlink made beside its place and renamed over it: readers see the old link or the new one.
            let link = snapshot.appendingPathComponent(file)
            let depth = file.split(separator: "/").count + 1  // snapshots/COMMIT/[dirs/]file back to the repository folder
            let target = String(repeating: "../", count: depth) + "blobs/" + blobName
            let temporary = link.deletingLastPathComponent().appendingPathComponent(".\(link.lastPathComponent).\(UUID().uuidString).link")
            try fm.createSymbolicLink(atPath: temporary.path, withDestinationPath: target)
            guard rename(temporary.path, link.path) == 0 else {
                try? fm.removeItem(at: temporary)
                throw HubError.cache("cannot link \(link.path): \(String(cString: strerror(errno)))")
            }
            if !HubModel.isCommitHash(model.revision) {
                let refs = folder.appendingPathComponent("refs")
                try fm.createDirectory(at: refs, withIntermediateDirectories: true)
                try Data(commit!.utf8).write(to: refs.appendingPathComponent(model.revision), options: .atomic)
            }
        } catch let error as HubError {
            throw error
        } catch {
            throw HubError.cache("cannot store \(file) in \(folder.path): \(error.localizedDescription)")
        }
    }
}

/// "downloading model.safetensors: 41% (205/498 MB)" on one rewritten line, at most twice a
/// second, for files large enough to take a while.
final class ProgressMeter: @unchecked Sendable {
    let file: String
    let log: @Sendable (String) -> Void
    var shown = false
    var last = Date.distantPast
    var received: Int64 = 0

    init(file: String, log: @escaping @Sendable (String) -> Void) { self.file = file; self.log = log }

    func update(_ received: Int64, _ expected: Int64?) {
        self.received = received
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.5, (expected ?? received) >= 4 << 20 else { return }
        last = now
        shown = true
        let mb = Double(received) / 1e6
        if let expected, expected > 0 {
            log(String(format: "\rdownloading %@: %.0f%% (%.0f/%.0f MB)", file, 100 * Double(received) / Double(expected), mb, Double(expected) / 1e6))
        } else {
            log(String(format: "\rdownloading %@: %.0f MB", file, mb))
        }
    }

    func finish(ok: Bool) {
        if shown { log(ok ? String(format: "\rdownloaded %@ (%.0f MB)          \n", file, Double(received) / 1e6) : "\n") }
    }
}
