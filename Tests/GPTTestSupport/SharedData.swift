// Locates ../shared next to the package (derived from this file's path) and loads
// the GPT-2 tokenizer once for all tests. Shared by the test targets.
import Foundation
import XCTest
import GPTTokenizer

public enum SharedData {
    /// `<package root>/../shared`.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // GPTTestSupport
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // package root
        .deletingLastPathComponent()
        .appendingPathComponent("shared")

    /// `<package root>/../shared/data`.
    public static let directory = root.appendingPathComponent("data")

    /// The file's URL, or an XCTSkip naming it when the shared data is absent.
    public static func file(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("shared data file \(url.path) is absent")
        }
        return url
    }

    private static let gpt2Result: Result<BytePairTokenizer, Error> = Result {
        try TiktokenRankFile.load(file("gpt2.tiktoken"), name: "gpt2")
    }

    /// GPT-2's tokenizer from gpt2.tiktoken, with `<|endoftext|>` = 50256.
    public static func gpt2() throws -> BytePairTokenizer { try gpt2Result.get() }
}
