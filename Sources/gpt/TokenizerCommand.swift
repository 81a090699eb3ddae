// `gpt tokenizer` (../shared/CLI.md): train a byte-level BPE on a corpus, and turn text
// into ids and back with any tokenizer.
import ArgumentParser
import Foundation
import GPTIO
import GPTData
import GPTTokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a BPE tokenizer, or encode and decode text.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self])
}
