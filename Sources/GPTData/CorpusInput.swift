// What `gpt prepare` and `gpt tokenizer train` read: text files (one document
// each), directories (every non-hidden regular file below, in path order), and
// JSON Lines files (`.jsonl`, one document per line in its string field `text`), and
// translation pairs files (JSON Lines of `{"source", "target"}`, named as such by the caller:
// each side is a document, so one tokenizer learns both languages, a joint vocabulary).
import Foundation

/// One input file and how its documents are laid out.
public enum CorpusInput: Equatable, Sendable {
    case textFile(URL)
    case jsonLines(URL)
    /// JSON Lines of translation pairs: the "source" and the "target" of each line are two documents.
    case pairs(URL)

    public var url: URL {
        switch self {
        case .textFile(let url), .jsonLines(let url), .pairs(let url): return url
        }
    }

    /// Pairs files named on the command line (`--pairs`), checked to be regular files.
    public static func resolvePairs(_ paths: [String]) throws -> [CorpusInput] {
        try paths.map { path in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw DataError.unreadableInput(path: path, reason: "no such file or directory")
            }
            guard !isDirectory.boolValue else {
                throw DataError.unreadableInput(path: path, reason: "a directory; a pairs input is one JSON Lines file")
            }
            return .pairs(URL(fileURLWithPath: path))
        }
    }

    /// Expands paths given on the command line into input files, in a stable order.
    /// The inputs `paths` name: files, and the files below directories. `outputs` (paths a
    /// command is about to write) are skipped when found in a directory and refused when named,
    /// so `gpt prepare DIR --out DIR` never reads its own train.bin.
    public static func resolve(_ paths: [String], excluding outputs: [URL] = []) throws -> [CorpusInput] {
        guard !paths.isEmpty else { throw DataError.noInputs }
        let excluded = Set(outputs.map(canonicalPath))
        var inputs: [CorpusInput] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw DataError.unreadableInput(path: path, reason: "no such file or directory")
            }
            let url = URL(fileURLWithPath: path)
            var status = stat()
            if !isDirectory.boolValue, stat(path, &status) == 0, (status.st_mode & S_IFMT) != S_IFREG {
                throw DataError.unreadableInput(path: path, reason: "not a regular file (a FIFO, device or socket)")
            }
            if isDirectory.boolValue {
                inputs += try filesBelow(url).filter { !excluded.contains(canonicalPath($0)) }.map(classify)
            } else {
                guard !excluded.contains(canonicalPath(url)) else { throw DataError.inputIsOutput(path: path) }
                inputs.append(classify(url))
            }
        }
        guard !inputs.isEmpty else { throw DataError.noInputs }
        return inputs
    }

    static func canonicalPath(_ url: URL) -> String { url.standardizedFileURL.resolvingSymlinksInPath().path }

    private static func classify(_ url: URL) -> CorpusInput {
        url.pathExtension.lowercased() == "jsonl" ? .jsonLines(url) : .textFile(url)
    }

    private static func filesBelow(_ directory: URL) throws -> [URL] {
        guard let enumerator = FileManager.default.enumerator(
            at: directory, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else {
            throw DataError.unreadableInput(path: directory.path, reason: "cannot list the directory")
        }
        var files: [URL] = []
        for case let url as URL in enumerator
        where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            files.append(url)
        }
        return files.sorted { $0.path < $1.path }
    }
}
