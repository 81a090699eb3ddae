// Help text as a terminal shows it: ArgumentParser re-wraps every line of a discussion at 80
// columns, so a hard-wrapped sentence comes out ragged and a long indented line loses its column.
@testable import gpt
import ArgumentParser
import XCTest

final class HelpTextTests: XCTestCase {
    static let width = 80

    func testDiscussionsRenderCleanlyAtEightyColumns() {
        var problems: [String] = []
        for (name, command) in Self.commands(GPTCommand.self, path: "gpt") {
            for line in command.configuration.discussion.split(separator: "\n", omittingEmptySubsequences: false)
            where line.count > Self.width {
                // An indented line (example, table row) must fit; a prose paragraph may be long
                // (the parser wraps it) but must end where its line ends, not mid-sentence.
                if line.first == " " || !(line.hasSuffix(".") || line.hasSuffix(":") || line.hasSuffix(")")) {
                    problems.append("\(name): \(line)")
                }
            }
        }
        XCTAssertEqual(problems, [], "help lines that wrap raggedly at \(Self.width) columns")
    }

    func testThreadsHelpStatesItsDefaultOnce() throws {
        for (name, command) in Self.commands(GPTCommand.self, path: "gpt") where command.configuration.subcommands.isEmpty {
            let help = command.helpMessage(columns: 200)
            for line in help.split(separator: "\n") where line.contains("--threads") {
                XCTAssertLessThanOrEqual(line.components(separatedBy: "default").count - 1, 1, "\(name): \(line)")
            }
        }
    }

    /// Every command under `root`, depth first, with its full name.
    static func commands(_ root: ParsableCommand.Type, path: String) -> [(String, ParsableCommand.Type)] {
        [(path, root)] + root.configuration.subcommands.flatMap {
            commands($0, path: path + " " + ($0.configuration.commandName ?? $0._commandName))
        }
    }
}
