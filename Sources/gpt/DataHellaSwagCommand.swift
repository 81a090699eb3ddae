// `gpt data hellaswag`: HellaSwag's validation set (10,042 examples) into the cache.
import ArgumentParser
import Foundation
import GPTData
import GPTIO
import GPTNetwork

struct HellaSwagData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hellaswag",
        abstract: "HellaSwag's validation set (JSON Lines): download it into the cache and print its path.",
        discussion: """
        The cache is $XDG_CACHE_HOME/swift-gpt (default ~/.cache/swift-gpt). The file is checked \
        line by line before it is kept. Offline, pass a copy with --from FILE.
        Example:
          gpt eval --checkpoint runs/gpt2 --task hellaswag \\
              --data "$(gpt data hellaswag)"
        """)

    static let url = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"

    @Option(help: "Where to write the file (default: the cache).") var out: String?
    @Option(help: "A local copy to use instead of downloading.") var from: String?
    @Option(help: "Where to download it from.") var url = HellaSwagData.url

    func run() throws {
        let destination = out.map { URL(fileURLWithPath: $0) } ?? cacheDirectory().appendingPathComponent("hellaswag_val.jsonl")
        if from == nil, let existing = FileManager.default.contents(atPath: destination.path),
           (try? HellaSwagExample.parse(existing, path: destination.path)) != nil {
            print(destination.path)
            return
        }
        let data: Data
        if let from {
            data = try InputFile.read(from)
        } else {
            guard let source = URL(string: url), source.scheme == "https" || source.scheme == "http" else {
                throw CommandError("--url \(url) is not an http(s) URL")
            }
            do { data = try Download.data(from: source, timeout: 60) } catch {
                throw CommandError("\(error). Offline? Pass a local copy: gpt data hellaswag --from FILE")
            }
        }
        let examples = try HellaSwagExample.parse(data, path: from ?? url)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(data, to: destination)
        StandardStreams.error("\(examples.count) HellaSwag examples\n")
        print(destination.path)
    }
}

/// $XDG_CACHE_HOME/swift-gpt, else ~/.cache/swift-gpt.
func cacheDirectory() -> URL {
    let environment = ProcessInfo.processInfo.environment
    let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
    return cache.appendingPathComponent("swift-gpt")
}
