// `gpt tokenizer decode`: ids to text.
import ArgumentParser
import Foundation
import GPTIO
import GPTData
import GPTTokenizer

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Print the text of token ids.",
        discussion: """
        The bytes of the tokens are written as they are (a partial UTF-8 character stays partial).
        Example:
          gpt tokenizer decode --tokenizer gpt2 15496 11 995 0      # Hello, world!
        """)

    @Option(help: "char, gpt2, or a path (.tiktoken, vocab.json, tokenizer file, or a directory holding one).")
    var tokenizer: String
    @Argument(help: "Token ids.") var ids: [Int]
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        let bytes = try TokenizerLoader.load(tokenizer).decodeBytes(ids)
        StandardStreams.output(bytes: bytes + [UInt8(ascii: "\n")])
    }
}
