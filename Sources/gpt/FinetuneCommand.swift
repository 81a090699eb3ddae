// `gpt finetune`: the fine-tuning commands.
import ArgumentParser

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Adapt a pre-trained model: a classifier head on labeled text, or more language-model training.",
        discussion: """
        Examples:
          gpt finetune classify --checkpoint runs/pretrain --out runs/clf \\
              --train train.jsonl --test test.jsonl
          gpt finetune lm --checkpoint runs/pretrain --data notes.txt --out runs/notes
        """,
        subcommands: [FinetuneClassify.self, FinetuneLM.self, FinetuneChat.self])
}
