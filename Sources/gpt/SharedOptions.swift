// Option groups that several commands share, each with its own check, so a flag is
// spelled, documented and range-checked in one place.
import ArgumentParser
import Foundation
import GPTIO
import GPTKernels
import GPTCore
import GPTDistributed
import GPTGeneration
import GPTTokenizer
import GPTTraining

extension WeightFormat: ExpressibleByArgument {}

/// `--dtype fp32|bf16|f16|q8_0`: how the weight matrices are held for inference.
struct WeightFormatOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Weights for inference: fp32, bf16, f16 or q8_0 (default: as the checkpoint stores them).",
        discussion: "The matrices and the tied embedding are converted at load time; LayerNorm, biases and positions stay fp32."))
    var dtype: WeightFormat?
}

/// `--threads N`: worker threads for the kernels.
struct ThreadOptions: ParsableArguments {
    /// More threads than this cannot help and only cost memory (each has an 8 MB stack).
    static let maximum = max(64, 4 * ThreadPool.coreCount)

    @Option(parsing: .unconditional, help: "Worker threads, one per core unless set (under mpirun, the cores shared by this machine's ranks).")
    var threads = Self.defaultThreads

    /// One per core; mpirun's ranks on one machine share its cores.
    static var defaultThreads: Int {
        let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ThreadPool.coreCount / max(1, local))
    }

    func validate() throws {
        guard (1...Self.maximum).contains(threads) else {
            throw ValidationError("--threads must be in 1...\(Self.maximum) (4 per core), got \(threads)")
        }
    }
}

/// `--checkpoint DIR|hf:NAME`: the model a command reads.
struct CheckpointOption: ParsableArguments {
    @Option(help: """
        A checkpoint directory (ours or Hugging Face GPT-2), a run directory whose checkpoint/ it takes, \
        or hf:NAME (e.g. hf:gpt2): a hub model from the Hugging Face cache, downloaded into it if missing.
        """)
    var checkpoint: String

    /// The checkpoint directory itself (for hf:NAME, its snapshot in the cache, fetched first if need be).
    func directory() throws -> URL { try CheckpointLocation.locate(checkpoint) }

    func validate() throws {
        do { try CheckpointLocation.check(checkpoint) } catch { throw ValidationError("--checkpoint: \(error)") }
    }
}

/// `--json`: the command's last line of standard output is one JSON object.
struct JSONOutput: ParsableArguments {
    @Flag(help: "Print one JSON object on the last line.") var json = false
}

/// `--out DIR`, `--resume`, `--overwrite`: the run directory of a training command.
struct RunDirectoryOptions: ParsableArguments {
    @Flag(help: "Continue the run in --out from its checkpoint, exactly as if it had not stopped.") var resume = false
    @Flag(help: "Replace the run --out holds (its checkpoints, metrics and chart) instead of refusing.") var overwrite = false

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
    }

    /// Takes the directory: locked, and refused if it holds a run that neither flag names.
    func open(_ path: String) throws -> RunDirectory {
        try RunDirectory(URL(fileURLWithPath: path), mode: resume ? .resume : overwrite ? .overwrite : .new)
    }
}

/// A training command as one of the ranks mpirun started, or alone: it joins the job, and an
/// error on any rank ends every rank at once (the others would wait for it forever).
enum DataParallelCommand {
    /// For a training command that runs in one process: refuses to start as one of several MPI
    /// ranks, which would train N unconnected copies into one run directory.
    static func refuseRanks(_ command: String) throws {
        if let ranks = World.launchedSize, ranks > 1 {
            throw CommandError("\(command) runs in one process, not on \(ranks) MPI ranks; start it without mpirun "
                               + "(gpt train and gpt finetune lm run data-parallel)")
        }
    }

    /// GPT_MPI_SHARED_MEMORY=0: ranks on one machine all-reduce their gradients through MPI, as ranks
    /// on several machines do, instead of splitting the optimizer step in shared memory (to compare).
    static var splitsOptimizerInSharedMemory: Bool { ProcessInfo.processInfo.environment["GPT_MPI_SHARED_MEMORY"] != "0" }

    static func run(_ body: (any Communicator) throws -> Void) throws {
        let world = try World.join()
        do {
            try body(world)
        } catch let exit as ExitCode {
            world.finish()
            throw exit
        } catch {
            if world.size > 1 {
                StandardStreams.error("gpt: rank \(world.rank) of \(world.size): \(error)")
                world.abort(status: 1)
            }
            throw error
        }
        world.finish()
    }
}

extension RunOutcome {
    /// Says where a finished run's checkpoint is; after a stop signal, ends the process as a
    /// shell expects (130, 143, 129).
    func report(_ directory: RunDirectory?) throws {
        switch self {
        case let .stopped(signal): throw ExitCode(StopSignals.exitStatus(signal))
        case let .finished(seconds):
            guard let directory else { return }  // a data-parallel rank other than 0
            print(String(format: "trained in %.0f s; checkpoint in %@/checkpoint", seconds, directory.url.path))
        case .alreadyComplete: break
        }
    }
}
