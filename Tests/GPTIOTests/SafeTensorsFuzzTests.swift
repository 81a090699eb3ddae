// Fuzz test of the safetensors reader (issue 12, Tests): a few hundred mutations of a
// valid file, fixed seed, each read from memory and from a mapped file. Every one must
// load or throw a SafeTensorsError, never crash; the whole test takes well under a second.
// Fuzz/fuzz-safetensors.sh runs the same reader under libFuzzer for longer.
import Foundation
import XCTest
import GPTIO
import GPTTestSupport

final class SafeTensorsFuzzTests: XCTestCase {
    func testMutatedFilesLoadOrThrowTypedErrors() throws {
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt"]
        writer.add("wte", floats: (0..<12).map(Float.init), shape: [3, 4])
        writer.add("h.0.ln_1.bias", floats: [0.5, -1], shape: [2])
        writer.add("ids", int64s: [1, -2, 3], shape: [3])
        let valid = [UInt8](writer.serialized())
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }

        var mutator = ByteMutator(seed: 20_261_202)
        let start = Date()
        var loaded = 0
        for round in 0..<400 {
            let bytes = mutator.mutate(valid)
            let fromFile = round % 4 == 0
            do {
                let file: SafeTensorsFile
                if fromFile {
                    try Data(bytes).write(to: url)
                    file = try SafeTensorsFile(contentsOf: url)
                } else {
                    file = try SafeTensorsFile(data: Data(bytes))
                }
                for e in file.entries {
                    _ = try? file.floats(e.name)
                    _ = try? file.integers(e.name)
                    _ = try file.withUnsafeRawBytes(of: e.name) { $0.reduce(0) { $0 &+ Int($1) } }
                }
                loaded += 1
            } catch let error as SafeTensorsError {
                XCTAssertFalse(error.description.isEmpty)
            } catch {
                XCTFail("round \(round): untyped error \(error)")
            }
        }
        XCTAssertGreaterThan(loaded, 0, "no mutation loaded: the mutations never leave a valid file")
        XCTAssertLessThan(loaded, 400, "every mutation loaded: the reader checks nothing")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}
