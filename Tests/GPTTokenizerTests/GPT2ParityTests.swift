// Exact ids against tiktoken (gpt2 / r50k_base) on the shared vectors and on any
// extra vector files named in GPT_TOKENIZER_VECTORS, plus nanoGPT's Shakespeare counts.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class GPT2ParityTests: XCTestCase {
    func testSharedVectorsMatchTiktoken() throws {
        try checkVectorFile(SharedData.file("gpt2-tokenizer-vectors.json"))
    }

    func testVectorFilesFromEnvironment() throws {
        guard let list = ProcessInfo.processInfo.environment["GPT_TOKENIZER_VECTORS"], !list.isEmpty else {
            throw XCTSkip("GPT_TOKENIZER_VECTORS is not set: no extra vector files")
        }
        for path in list.split(separator: ":") where !path.isEmpty {
            try checkVectorFile(URL(fileURLWithPath: String(path)))
        }
    }

    func testTinyShakespeareTokenCounts() throws {
        let tokenizer = try SharedData.gpt2()
        let text = try String(contentsOf: SharedData.file("tinyshakespeare.txt"), encoding: .utf8)
        XCTAssertEqual(try tokenizer.encode(text).count, 338_025)
        // nanoGPT's data/shakespeare/prepare.py: the first 90% of the characters, then the rest.
        let characters = Array(text)
        let split = Int(Double(characters.count) * 0.9)
        XCTAssertEqual(try tokenizer.encode(String(characters[..<split])).count, 301_966)
        XCTAssertEqual(try tokenizer.encode(String(characters[split...])).count, 36_059)
    }

    func testParallelEncodingEqualsSequential() throws {
        let tokenizer = try SharedData.gpt2()
        let text = try String(contentsOf: SharedData.file("tinyshakespeare.txt"), encoding: .utf8)
        let sequential = try tokenizer.encode(text)
        for threads in [2, 3, 8] {
            XCTAssertEqual(tokenizer.encode(text, allowedSpecial: [], threads: threads), sequential, "threads \(threads)")
        }
    }

    private func checkVectorFile(_ url: URL) throws {
        let tokenizer = try SharedData.gpt2()
        let vectors = try JSONDecoder().decode([TokenizerVector].self, from: Data(contentsOf: url))
        print("tokenizer vectors: \(url.lastPathComponent): \(vectors.count) texts")
        XCTAssertFalse(vectors.isEmpty, "\(url.path) has no vectors")
        for (index, vector) in vectors.enumerated() {
            let label = "\(url.lastPathComponent) #\(index) \(vector.text.prefix(40).debugDescription)"
            let ids = try tokenizer.encode(vector.text)
            XCTAssertEqual(ids, vector.ids, "ordinary ids, \(label)")
            XCTAssertEqual(try tokenizer.decode(ids), vector.text, "decode(encode(t)), \(label)")
            if let expected = vector.ids_special {
                let special = tokenizer.encode(vector.text, allowedSpecial: [BytePairTokenizer.endOfText])
                XCTAssertEqual(special, expected, "ids with <|endoftext|> allowed, \(label)")
                XCTAssertEqual(try tokenizer.decode(special), vector.text, "decode(encode_special(t)), \(label)")
            }
        }
    }
}
