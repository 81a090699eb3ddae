// `gpt data fineweb10B`: FineWeb 10B's GPT-2 shards from the Hugging Face hub, linked into a directory.
import ArgumentParser
import Foundation
import GPTData
import GPTNetwork

struct FineWebData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fineweb10B",
        abstract: "FineWeb 10B in GPT-2 tokens (llm.c shards): download the first N training shards and the validation shard.",
        discussion: """
        The files come from the hub's dataset repository \(HubDatasets.fineWebRepository) \
        (fineweb_val_000000.bin, fineweb_train_000001.bin … _000103.bin, 10⁸ tokens and 200 MB each) \
        into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), \
        then are linked into --out (default $XDG_CACHE_HOME/swift-gpt/fineweb10B), whose path is printed. \
        $HF_ENDPOINT names another hub; with HF_HUB_OFFLINE=1 only the cache is used. A shard already \
        in the cache is not fetched again; every shard's header is checked before it is linked; a \
        different file already at an output name is never replaced. Links made by an earlier, larger \
        --shards stay (training reads every shard in the directory).
        Example:
          gpt train --preset gpt2-124m --data "$(gpt data fineweb10B --shards 1)"
        """)

    @Option(help: "Training shards to fetch, \(HubDatasets.fineWebTrainShards.lowerBound)...\(HubDatasets.fineWebTrainShards.upperBound) (the repository holds \(HubDatasets.fineWebTrainShards.upperBound)).")
    var shards = 1
    @Option(help: "The directory to link the shards into (default: the cache).") var out: String?

    func validate() throws {
        guard HubDatasets.fineWebTrainShards.contains(shards) else {
            throw ValidationError("--shards must be in \(HubDatasets.fineWebTrainShards.lowerBound)...\(HubDatasets.fineWebTrainShards.upperBound) "
                                  + "(the repository holds \(HubDatasets.fineWebTrainShards.upperBound) training shards), got \(shards)")
        }
    }

    func run() throws {
        let directory = out.map { URL(fileURLWithPath: $0) } ?? cacheDirectory().appendingPathComponent("fineweb10B")
        try HubDatasets.fineWeb10B(shards: shards, into: directory, hub: HubSource())
        print(directory.path)
    }
}
