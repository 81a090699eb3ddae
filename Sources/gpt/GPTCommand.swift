// The `gpt` command line: a thin layer over the libraries. The contract it keeps
// (names, options, --json keys) is ../shared/CLI.md.
import ArgumentParser

@main
struct GPTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt",
        abstract: "Train, fine-tune, sample from and benchmark GPT models on the CPU.",
        subcommands: [Train.self, Finetune.self, Classify.self, Sample.self, Eval.self, Convert.self, PrepareCommand.self,
                      TokenizerCommand.self, DataCommand.self, Bench.self])
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Adapt a pre-trained model: a classifier head on labeled text, or more language-model training.",
        discussion: """
        Examples:
          gpt finetune classify --checkpoint runs/pretrain --out runs/clf \\
              --train train.jsonl --test test.jsonl
          gpt finetune lm --checkpoint runs/pretrain --data notes.txt --out runs/notes
        """,
        subcommands: [FinetuneClassify.self, FinetuneLM.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine: GEMM throughput, training step, generation, tokenizer.",
        subcommands: [BenchMatmul.self, BenchTrainStep.self, BenchGenerate.self, BenchTokenize.self])
}
