// decode(encode(x)) == x for arbitrary bytes (invalid UTF-8 included) and text, and
// streaming decoding token by token equals decoding everything at once.
import Foundation
import XCTest
import GPTTokenizer
import GPTTestSupport

final class RoundTripTests: XCTestCase {
    /// SplitMix64: reproducible random inputs.
    private struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Random bytes biased towards UTF-8 structure: ASCII, lead bytes, stray continuations.
    private func randomBytes(_ random: inout Random, count: Int) -> [UInt8] {
        let pool: [UInt8] = Array("ab Z9'\n\t.".utf8) + [0x00, 0x80, 0xBF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xA0, 0xFF, 0xC0]
        return (0..<count).map { _ in random.below(3) == 0 ? UInt8(random.below(256)) : pool[random.below(pool.count)] }
    }

    func testRandomBytesRoundTrip() throws {
        let tokenizer = try SharedData.gpt2()
        var random = Random(state: 42)
        for _ in 0..<2_000 {
            let bytes = randomBytes(&random, count: random.below(200))
            var ids: [Int] = []
            bytes.withUnsafeBufferPointer { tokenizer.encodeOrdinary(utf8: $0, into: &ids) }
            XCTAssertEqual(try tokenizer.decodeBytes(ids), bytes, "bytes \(bytes)")
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < 50_256 })
        }
    }

    func testRandomTextRoundTripsAndParallelAgrees() throws {
        let tokenizer = try SharedData.gpt2()
        var random = Random(state: 7)
        let pieces = ["the", " cat", "'s", " ", "  ", "\n", "\t", "42", "\u{00E9}t\u{00E9}", "\u{4E2D}\u{6587}", "\u{1F600}", "!!", " 'll", "\u{00A0}", "\u{3000}x"]
        for _ in 0..<200 {
            let text = (0..<random.below(400)).map { _ in pieces[random.below(pieces.count)] }.joined()
            let ids = try tokenizer.encode(text)
            XCTAssertEqual(try tokenizer.decode(ids), text)
        }
        let long = (0..<200_000).map { _ in pieces[random.below(pieces.count)] }.joined()
        XCTAssertEqual(tokenizer.encode(long, allowedSpecial: [], threads: 4), try tokenizer.encode(long))
    }

    func testStreamingDecodingEqualsWholeDecoding() throws {
        let tokenizer = try SharedData.gpt2()
        var random = Random(state: 99)
        var inputs: [[UInt8]] = (0..<300).map { _ in randomBytes(&random, count: random.below(120)) }
        inputs.append(Array("emoji \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} and \u{4E2D}\u{6587} and \u{1F1EF}\u{1F1F5}".utf8))
        for bytes in inputs {
            var ids: [Int] = []
            bytes.withUnsafeBufferPointer { tokenizer.encodeOrdinary(utf8: $0, into: &ids) }
            var decoder = StreamingTextDecoder()
            var streamed = ""
            for id in ids { streamed += decoder.push(try tokenizer.decodeBytes([id])) }
            streamed += decoder.finish()
            XCTAssertEqual(streamed, String(decoding: bytes, as: UTF8.self), "bytes \(bytes)")
        }
    }

    func testStreamingDecoderHoldsBackAPartialCharacter() {
        var decoder = StreamingTextDecoder()
        XCTAssertEqual(decoder.push([0xF0, 0x9F]), "")
        XCTAssertEqual(decoder.push([0x98]), "")
        XCTAssertEqual(decoder.push([0x80, 0x41]), "\u{1F600}A")
        XCTAssertEqual(decoder.push([0xE2, 0x82]), "")
        XCTAssertEqual(decoder.finish(), "\u{FFFD}")
    }

    func testCharacterTokenizerRoundTrip() throws {
        let text = "hello, w\u{00F6}rld \u{1F600}\n"
        let tokenizer = CharTokenizer(characters: text.unicodeScalars)
        XCTAssertEqual(tokenizer.vocabularySize, 12)   // h e l o , space w ö r d 😀 newline
        XCTAssertEqual(tokenizer.characters.map(\.value), tokenizer.characters.map(\.value).sorted())
        let ids = try tokenizer.encode(text)
        XCTAssertEqual(ids.count, text.unicodeScalars.count)
        XCTAssertEqual(try tokenizer.decode(ids), text)
    }

    func testSpecialTokensAreTextUnlessAllowed() throws {
        let tokenizer = try SharedData.gpt2()
        let text = "a<|endoftext|>b"
        XCTAssertFalse(try tokenizer.encode(text).contains(50_256))
        XCTAssertEqual(tokenizer.encode(text, allowedSpecial: [BytePairTokenizer.endOfText]), [64, 50_256, 65])
        XCTAssertEqual(tokenizer.endOfTextID, 50_256)
        XCTAssertEqual(tokenizer.vocabularySize, 50_257)
        XCTAssertEqual(try tokenizer.decode([50_256]), "<|endoftext|>")
    }
}
