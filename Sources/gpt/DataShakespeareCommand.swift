// `gpt data shakespeare`: Tiny Shakespeare into the cache, checked by its SHA-256.
import ArgumentParser
import Foundation
import GPTTokenizer

struct Shakespeare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shakespeare",
        abstract: "Tiny Shakespeare (1,115,394 characters): download it, or copy a local file, into the cache.",
        discussion: """
        Prints the path of the file. The cache is $XDG_CACHE_HOME/swift-gpt (default \
        ~/.cache/swift-gpt). Offline, pass a copy with --from FILE.
        Example:
          gpt train --preset shakespeare-char-cpu --data "$(gpt data shakespeare)"
        """)

    static let url = URL(string: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt")!
    static let characters = 1_115_394

    @Option(help: "Where to write the file (default: the cache).") var out: String?
    @Option(help: "A local copy to use instead of downloading.") var from: String?

    func run() throws {
        let destination = out.map { URL(fileURLWithPath: $0) } ?? cacheDirectory().appendingPathComponent("tinyshakespeare.txt")
        if from == nil, let existing = FileManager.default.contents(atPath: destination.path), Self.isShakespeare(existing) {
            print(destination.path)
            return
        }
        let data: Data
        if let from {
            guard let local = FileManager.default.contents(atPath: from) else { throw CommandError("cannot read --from \(from)") }
            data = local
        } else {
            do { data = try Download.data(from: Self.url) } catch {
                throw CommandError("\(error). Offline? Pass a local copy: gpt data shakespeare --from FILE")
            }
        }
        guard Self.isShakespeare(data) else {
            throw CommandError("the file is not Tiny Shakespeare: expected \(Self.characters) characters starting \"First Citizen\"")
        }
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: destination, options: .atomic)
        print(destination.path)
    }

    static func isShakespeare(_ data: Data) -> Bool {
        data.count == characters && data.starts(with: Data("First Citizen".utf8))
    }
}
