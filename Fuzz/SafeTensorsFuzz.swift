// libFuzzer entry for the safetensors reader (Sources/GPTIO/SafeTensors.swift), compiled
// together with GPTIO's sources by fuzz-safetensors.sh. Any input must load or throw;
// a crash, trap or sanitizer report is a bug. What loads is read through every accessor.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let file = try? SafeTensorsFile(data: data) else { return 0 }
    for entry in file.entries {
        _ = try? file.floats(entry.name)
        _ = try? file.integers(entry.name)
        _ = try? file.withUnsafeRawBytes(of: entry.name) { $0.reduce(0) { $0 &+ Int($1) } }
    }
    return 0
}
