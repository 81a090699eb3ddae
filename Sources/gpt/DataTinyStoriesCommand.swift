// `gpt data tinystories`: TinyStories from the Hugging Face hub, tokenized into llm.c shards.
import ArgumentParser
import Foundation
import GPTData
import GPTIO
import GPTNetwork
import GPTTokenizer

struct TinyStoriesData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinystories",
        abstract: "TinyStories (V2, GPT-4 stories): download the text and tokenize it into llm.c shards.",
        discussion: """
        The text files (TinyStoriesV2-GPT4-train.txt, 2.2 GB, and -valid.txt) come from the hub's \
        dataset repository \(HubDatasets.tinyStoriesRepository) into the Hugging Face cache \
        ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; $HF_ENDPOINT and \
        HF_HUB_OFFLINE=1 are honoured). Each story becomes <|endoftext|> followed by its tokens, as \
        llm.c's tinystories.py writes them, in shards of 10⁸ tokens (TinyStories_val_000000.bin, \
        TinyStories_train_000000.bin, …) in --out (default $XDG_CACHE_HOME/swift-gpt/tinystories), \
        with the tokenizer file beside them; the directory's path is printed. A split finished by an \
        earlier run is kept; files that are not ours are never replaced.
        Example:
          gpt train --preset gpt2-124m --data "$(gpt data tinystories)"
        """)

    @Option(help: "The directory for the shards (default: the cache).") var out: String?
    @Option(help: "gpt2 (the default) or a tokenizer PATH with <|endoftext|> and at most 65,536 ids.") var tokenizer = "gpt2"
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        let directory = out.map { URL(fileURLWithPath: $0) } ?? cacheDirectory().appendingPathComponent("tinystories")
        let tokens = try TokenizerLoader.load(tokenizer)
        let counts = try HubDatasets.tinyStories(into: directory, tokenizer: tokens, hub: HubSource(), threads: threading.threads) {
            StandardStreams.error($0)
        }
        StandardStreams.error("TinyStories: \(counts["train"] ?? 0) training and \(counts["val"] ?? 0) validation tokens (\(tokens.name))\n")
        print(directory.path)
    }
}
