// `gpt bench`: the measurement commands.
import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine: GEMM throughput, training step, generation, tokenizer.",
        subcommands: [BenchMatmul.self, BenchTrainStep.self, BenchTranslateStep.self, BenchGenerate.self, BenchTokenize.self,
                      BenchAllReduce.self])
}
