// The `gpt` command line: a thin layer over the libraries. The contract it keeps
// (names, options, --json keys) is ../shared/CLI.md.
import ArgumentParser

@main
struct GPTCommand: AsyncParsableCommand {  // async so that `serve` can be
    static let configuration = CommandConfiguration(
        commandName: "gpt",
        abstract: "Train, fine-tune, sample from and benchmark GPT models on the CPU.",
        subcommands: [Train.self, Finetune.self, Classify.self, Sample.self, Eval.self, Convert.self, PrepareCommand.self,
                      TokenizerCommand.self, DataCommand.self, Bench.self, Serve.self, Chat.self, Translate.self])
}
