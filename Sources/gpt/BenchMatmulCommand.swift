// `gpt bench matmul`: GFLOP/s of the packed GEMM on GPT-2 124M's shapes, for the
// forward product and both backward products, on one thread and on all threads.
import ArgumentParser
import Foundation
import GPTKernels

struct BenchMatmul: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matmul",
        abstract: "GEMM GFLOP/s on GPT-2 124M shapes (forward, backward-input, backward-weight).",
        discussion: """
        Each shape (K, N) is multiplied with M = B·T rows as the model does it:
          forward          out[M, N]  = x[M, K] · W[K, N]
          backward_input   dx[M, K]   = dout[M, N] · W[K, N]ᵀ
          backward_weight  dW[K, N]  += x[M, K]ᵀ · dout[M, N]
        Example: gpt bench matmul --json
        """)

    @Option(help: "Rows M (= batch × sequence length).") var m = 256
    @Option(help: "Thread counts to measure, comma-separated (default: 1 and all cores).")
    var threads: String?
    @Option(help: "Timed repetitions per product (the median is reported).") var repeats = 7
    @Flag(help: "Print one JSON object on the last line.") var json = false

    static let shapes: [(k: Int, n: Int)] = [(768, 2304), (768, 3072), (3072, 768), (768, 768), (768, 50304)]

    func run() throws {
        let threadCounts = try parseThreadList(threads)
        var results: [[String: Any]] = []
        print(String(format: "%-16@ %5@ %5@ %6@ %7@ %9@", "op" as NSString, "M" as NSString, "K" as NSString,
                     "N" as NSString, "threads" as NSString, "GFLOP/s" as NSString))
        for t in threadCounts {
            let pool = try ThreadPool(threads: t)
            for (k, n) in Self.shapes {
                let x = randomBuffer(m * k), w = randomBuffer(k * n), dout = randomBuffer(m * n)
                let out = randomBuffer(m * n), dx = randomBuffer(m * k), dw = randomBuffer(k * n)
                let ops: [(String, () -> Void)] = [
                    ("forward", { GEMM.multiply(out, ldc: n, x, lda: k, .normal, w, ldb: n, .normal,
                                                m: m, n: n, k: k, accumulate: false, pool: pool) }),
                    ("backward_input", { GEMM.multiply(dx, ldc: k, dout, lda: n, .normal, w, ldb: n, .transposed,
                                                       m: m, n: k, k: n, accumulate: false, pool: pool) }),
                    ("backward_weight", { GEMM.multiply(dw, ldc: n, x, lda: k, .transposed, dout, ldb: n, .normal,
                                                        m: k, n: n, k: m, accumulate: true, pool: pool) }),
                ]
                for (name, op) in ops {
                    let seconds = medianSeconds(repeats: repeats, op)
                    let gflops = 2.0 * Double(m * k * n) / seconds / 1e9
                    print(String(format: "%-16@ %5d %5d %6d %7d %9.1f", name as NSString, m, k, n, t, gflops))
                    results.append(["op": name, "m": m, "k": k, "n": n, "threads": t, "gflops": rounded(gflops, 2)])
                }
                for p in [x, w, dout, out, dx, dw] { p.deallocate() }
            }
        }
        if json { try printJSONLine(["results": results]) }
    }
}
