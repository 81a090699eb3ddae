// `gpt bench allreduce`: under mpirun (a build with --traits MPI), how long one sum over the
// ranks of a gradient-sized buffer takes, and its bandwidth as nccl-tests reports it.
import ArgumentParser
import Foundation
import GPTCore
import GPTDistributed

struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time of an all-reduce (sum) of a gradient-sized buffer over the MPI ranks.",
        discussion: """
        Run it under mpirun with a gpt built with --traits MPI. algbw is the buffer's bytes over the \
        time; busbw = algbw × 2(N−1)/N, the bytes each rank's link carries in a ring all-reduce.
        Example: mpirun -np 2 gpt bench allreduce --json
        """)

    @Option(help: "Elements (float32) to sum; default: GPT-2 124M's parameter count.") var floats = 124_439_808
    @Option(help: "Timed repetitions (the median is reported).") var repeats = 5
    @Flag(help: "Print one JSON object on the last line.") var json = false

    func validate() throws {
        guard (1...(1 << 31)).contains(floats) else { throw ValidationError("--floats must be in 1...\(1 << 31), got \(floats)") }
        guard (1...1_000).contains(repeats) else { throw ValidationError("--repeats must be in 1...1000, got \(repeats)") }
    }

    func run() throws {
        try DataParallelCommand.run { world in
            try MemoryBudget.require(floats * MemoryLayout<Float>.stride, for: "the all-reduce buffer")
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: floats)
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 0.5)
            try world.allReduceSum(buffer)  // warm-up: connections, page faults
            var times: [Double] = []
            for _ in 0..<repeats {
                try world.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try world.allReduceSum(buffer)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            let ms = times.sorted()[times.count / 2]
            let bytes = Double(floats * MemoryLayout<Float>.stride)
            let algbw = bytes / (ms / 1000) / 1e9, busbw = algbw * 2 * Double(world.size - 1) / Double(world.size)
            guard world.isRoot else { return }
            print(String(format: "all-reduce of %d floats (%.0f MB) over %d ranks: %.1f ms (median of %d), algbw %.2f GB/s, busbw %.2f GB/s",
                         floats, bytes / 1e6, world.size, ms, repeats, algbw, busbw))
            if json {
                let object: [String: Any] = ["ranks": world.size, "floats": floats, "ms": ms, "algbw_gb_per_s": algbw, "busbw_gb_per_s": busbw]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
        }
    }
}
