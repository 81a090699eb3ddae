// A run directory (`gpt train --out DIR`, `gpt finetune … --out DIR`) and the one
// checkpoint writer every run uses.
//
//   DIR/.gpt-run.lock      flock'ed while a run owns the directory; holds its PID
//   DIR/.gpt-run.json      the entries this tool wrote (checkpoint directories, staging)
//   DIR/checkpoint  ->  checkpoint-<name>      the latest, switched by one rename
//   DIR/best        ->  checkpoint-<name>      optional second link
//
// A save writes a complete directory under a staging name, renames it into place, then
// points a link at it with one rename; a kill at any instant leaves each link naming a
// complete checkpoint. Afterwards it deletes the directories it recorded in .gpt-run.json
// that no link names, and nothing else: a user's `checkpoint-backup/` is never touched.
import Foundation
import GPTIO
#if canImport(Glibc)
import Glibc
#endif

public enum RunDirectoryError: Error, CustomStringConvertible, Equatable {
    case inUse(path: String, pid: Int32?)
    case holdsRun(path: String, what: String)
    case nothingToResume(path: String)
    case linkIsNotALink(path: String)
    case cannotCreate(path: String, reason: String)

    public var description: String {
        switch self {
        case let .inUse(path, pid):
            return "\(path) is in use by " + (pid.map { "PID \($0)" } ?? "another process") + "; wait for it or choose another --out"
        case let .holdsRun(path, what):
            return "\(path) already holds a run (\(what)); pass --resume to continue it, --overwrite to replace it, or choose another --out"
        case let .nothingToResume(path): return "--resume: \(path) holds no checkpoint to continue from"
        case let .linkIsNotALink(path):
            return "\(path) is a directory, not the link gpt writes (copied with cp -L?); move it aside and point a link at the checkpoint to resume"
        case let .cannotCreate(path, reason): return "cannot use run directory \(path): \(reason)"
        }
    }
}

/// How a run takes its directory.
public enum RunDirectoryMode: Sendable {
    /// A new run: the directory must not hold one.
    case new
    /// Continue the run the directory holds.
    case resume
    /// Replace the run the directory holds: what this tool wrote there is removed first.
    case overwrite
    /// Take the directory as it is, whatever it holds (library callers that manage runs themselves).
    case asIs
}

public final class RunDirectory {
    public let url: URL
    public static let lockFileName = ".gpt-run.lock"
    public static let manifestFileName = ".gpt-run.json"
    public static let latestLink = "checkpoint"
    public static let bestLink = "best"
    /// Files a run writes at the top of its directory (removed by --overwrite).
    public static let runFiles = ["metrics.jsonl", "loss.svg", "config.json"]

    private let lockDescriptor: Int32
    /// Entries (directory names) this tool wrote, as recorded in the manifest.
    private var written: [String]
    /// The written checkpoints saved with `keep`: no later save deletes them; --overwrite does.
    private var kept: [String]

    /// Takes `url` for a run: creates it, locks it (refusing if another process holds it),
    /// and checks it against `mode`.
    public init(_ url: URL, mode: RunDirectoryMode) throws {
        self.url = url
        let fm = FileManager.default
        do { try fm.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw RunDirectoryError.cannotCreate(path: url.path, reason: FileAccessError.words(error))
        }
        let lockPath = url.appendingPathComponent(Self.lockFileName).path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunDirectoryError.cannotCreate(path: url.path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPID(fd)
            close(fd)
            throw RunDirectoryError.inUse(path: url.path, pid: holder)
        }
        let pid = Data("\(getpid())\n".utf8)
        ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        lockDescriptor = fd
        (written, kept) = Self.readManifest(url)
        do {
            try checkLink(Self.latestLink)
            try checkLink(Self.bestLink)
            switch mode {
            case .new:
                if let what = existingRun() { throw RunDirectoryError.holdsRun(path: url.path, what: what) }
            case .resume:
                guard fm.fileExists(atPath: url.appendingPathComponent(Self.latestLink).path) else {
                    throw RunDirectoryError.nothingToResume(path: url.path)
                }
            case .overwrite:
                try clear()
            case .asIs:
                break
            }
            try removeUnreferenced()
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(lockDescriptor) }

    /// What shows the directory holds a run, or nil.
    func existingRun() -> String? {
        let fm = FileManager.default
        for link in [Self.latestLink, Self.bestLink] where (try? fm.destinationOfSymbolicLink(atPath: url.appendingPathComponent(link).path)) != nil {
            return "a \(link) link"
        }
        for file in Self.runFiles where fm.fileExists(atPath: url.appendingPathComponent(file).path) { return file }
        return nil
    }

    /// A `checkpoint` or `best` that is a real directory cannot be switched by rename; say so up front.
    private func checkLink(_ name: String) throws {
        let path = url.appendingPathComponent(name).path
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw RunDirectoryError.linkIsNotALink(path: path) }
    }

    /// Removes the run this tool wrote: links, recorded checkpoints and the run files.
    private func clear() throws {
        let fm = FileManager.default
        for link in [Self.latestLink, Self.bestLink] {
            let path = url.appendingPathComponent(link).path
            if (try? fm.destinationOfSymbolicLink(atPath: path)) != nil { try fm.removeItem(atPath: path) }
        }
        for file in Self.runFiles { try? fm.removeItem(at: url.appendingPathComponent(file)) }
        try removeUnreferenced(includingKept: true)
    }

    // MARK: Checkpoints

    /// The points of a save at which a crash is simulated in tests.
    public enum SaveStage: Sendable { case filesWritten, directoryInPlace, linkSwitched }

    /// Writes a checkpoint: `write(staging)` fills a fresh directory, which then becomes
    /// `checkpoint-<name>` and the target of `link`. Returns the final directory. A `keep`
    /// checkpoint is recorded as kept before it is written: no later save deletes it, --overwrite does.
    @discardableResult
    public func saveCheckpoint(name: String, link: String = RunDirectory.latestLink, keep: Bool = false,
                               after stage: (SaveStage) throws -> Void = { _ in },
                               write: (URL) throws -> Void) throws -> URL {
        let fm = FileManager.default
        var final = "checkpoint-\(name)"
        // Never replace a directory a link may name: a second save under the same name gets its own.
        if fm.fileExists(atPath: url.appendingPathComponent(final).path) { final += "-\(UInt64(Date().timeIntervalSince1970 * 1e6))" }
        let staging = ".\(final).tmp-\(getpid())"
        try record([staging, final])
        if keep { try saveManifest(written, kept: kept + [final]) }
        let stagingURL = url.appendingPathComponent(staging), finalURL = url.appendingPathComponent(final)
        do {
            try? fm.removeItem(at: stagingURL)
            try fm.createDirectory(at: stagingURL, withIntermediateDirectories: false)
            try write(stagingURL)
            try stage(.filesWritten)
            try fm.moveItem(at: stagingURL, to: finalURL)
            try stage(.directoryInPlace)
        } catch {
            // A failed save (a full disk, say) leaves nothing behind but the last good checkpoint.
            try? fm.removeItem(at: stagingURL)
            throw error
        }
        try point(link, at: finalURL, after: stage)
        return finalURL
    }

    /// Points `link` at the checkpoint directory `directory` with one atomic rename, then
    /// deletes the recorded checkpoints that no link names any more.
    public func point(_ link: String, at directory: URL, after stage: (SaveStage) throws -> Void = { _ in }) throws {
        let temporary = url.appendingPathComponent(".\(link).link-\(getpid())")
        unlink(temporary.path)
        guard symlink(directory.lastPathComponent, temporary.path) == 0 else {
            throw AtomicFileError.failed(path: temporary.path, step: "symlink", errno: errno)
        }
        guard rename(temporary.path, url.appendingPathComponent(link).path) == 0 else {
            let code = errno
            unlink(temporary.path)
            throw AtomicFileError.failed(path: url.appendingPathComponent(link).path, step: "rename", errno: code)
        }
        let directoryFD = open(url.path, O_RDONLY)
        if directoryFD >= 0 { fsync(directoryFD); close(directoryFD) }
        try stage(.linkSwitched)
        try removeUnreferenced()
    }

    /// The directory a link names, or nil.
    public func target(of link: String) -> URL? {
        guard let name = try? FileManager.default.destinationOfSymbolicLink(atPath: url.appendingPathComponent(link).path) else { return nil }
        return url.appendingPathComponent(name)
    }

    /// Deletes what this tool recorded and no link names (older checkpoints, staging left by a
    /// crashed save), except kept checkpoints unless `includingKept`; then rewrites the record.
    private func removeUnreferenced(includingKept: Bool = false) throws {
        let fm = FileManager.default
        var live = Set([Self.latestLink, Self.bestLink].compactMap { try? fm.destinationOfSymbolicLink(atPath: url.appendingPathComponent($0).path) })
        if !includingKept { live.formUnion(kept) }
        var remaining: [String] = []
        for name in written {
            let path = url.appendingPathComponent(name).path
            if live.contains(name) {
                // A kept name whose save failed has nothing left to keep.
                if fm.fileExists(atPath: path) || !kept.contains(name) { remaining.append(name) }
                continue
            }
            // Staging of another process that is still alive cannot exist: the lock excludes it.
            do { if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) } } catch { remaining.append(name) }
        }
        let stillKept = kept.filter(remaining.contains)
        if remaining != written || stillKept != kept { try saveManifest(remaining, kept: stillKept) }
    }

    private func record(_ names: [String]) throws {
        let added = names.filter { !written.contains($0) }
        guard !added.isEmpty else { return }
        try saveManifest(written + added, kept: kept)
    }

    private func saveManifest(_ names: [String], kept keptNames: [String]) throws {
        let data = try JSONSerialization.data(withJSONObject: ["written": names, "kept": keptNames], options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: url.appendingPathComponent(Self.manifestFileName))
        written = names; kept = keptNames
    }

    /// The recorded names and the kept ones among them.
    private static func readManifest(_ url: URL) -> (written: [String], kept: [String]) {
        guard let data = FileManager.default.contents(atPath: url.appendingPathComponent(manifestFileName).path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let names = object["written"] as? [String] else { return ([], []) }
        // Only plain names of our own patterns: a hand-edited record can never reach outside the directory.
        let written = names.filter { name in
            !name.contains("/") && name != "." && name != ".." && (name.hasPrefix("checkpoint-") || name.hasPrefix(".checkpoint-"))
        }
        return (written, (object["kept"] as? [String] ?? []).filter(written.contains))
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
