// `gpt tokenizer encode`: text to ids.
import ArgumentParser
import Foundation
import GPTIO
import GPTData
import GPTTokenizer

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Print the token ids of a text.",
        discussion: """
        The text is the argument, the --input file, or standard input. Special tokens such as \
        <|endoftext|> are ordinary text unless --allow-special is given (tiktoken's rule).
        Examples:
          gpt tokenizer encode --tokenizer gpt2 "Hello, world!"      # 15496 11 995 0
          gpt tokenizer encode --tokenizer gpt2 --input book.txt --count
          gpt tokenizer encode --tokenizer data/gpt-tokenizer.json "to be" --json
        """)

    @Option(help: "char, gpt2, or a path (.tiktoken, vocab.json, tokenizer file, or a directory holding one).")
    var tokenizer: String
    @Argument(help: "Text to encode.") var text: String?
    @Option(help: "Read the text from this file instead.") var input: String?
    @Flag(help: "Encode special tokens such as <|endoftext|> as their ids.") var allowSpecial = false
    @Flag(help: "Print only the number of tokens.") var count = false
    @Flag(help: "Print one JSON object: {\"ids\": [...], \"count\": N}.") var json = false
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard text == nil || input == nil else { throw ValidationError("give the text or --input, not both") }
    }

    func run() throws {
        let loaded = try TokenizerLoader.load(tokenizer)
        let bytes: [UInt8]
        if let text {
            bytes = Array(text.utf8)
        } else if let input {
            let data = try InputFile.read(input, what: "--input")
            bytes = Array(data)
        } else {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        let ids: [Int] = try bytes.withUnsafeBufferPointer { buffer in
            if let bpe = loaded as? BytePairTokenizer {
                return bpe.encode(utf8: buffer, allowedSpecial: allowSpecial ? Set(bpe.specialTokens.keys) : [],
                                  threads: threading.threads)
            }
            var ids: [Int] = []
            try loaded.encodeOrdinary(utf8: buffer, into: &ids)
            return ids
        }
        if count {
            print(json ? "{\"count\": \(ids.count)}" : String(ids.count))
        } else if json {
            print("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))], \"count\": \(ids.count)}")
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
