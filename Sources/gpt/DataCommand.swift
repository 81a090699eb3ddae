// `gpt data`: public training corpora.
import ArgumentParser
import Foundation
import GPTTokenizer

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Fetch a public training corpus.", subcommands: [Shakespeare.self, HellaSwagData.self, FineWebData.self, TinyStoriesData.self])
}
