// Which communicator a command runs with: MPI's when mpirun started this process (and the
// build has the MPI trait), else one process alone.
import Foundation

public enum World {
    /// The ranks mpirun (Open MPI, or a PMI launcher) says this process belongs to, or nil.
    public static var launchedSize: Int? {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let text = env[key], let n = Int(text) { return n }
        }
        return nil
    }

    /// Joins the job mpirun started, or returns a single-process communicator. Refuses to train
    /// as N unconnected copies when mpirun started a build without MPI.
    public static func join() throws -> any Communicator {
        #if MPI
        if launchedSize != nil { return try MPICommunicator() }
        #else
        if let n = launchedSize, n > 1 { throw CommunicatorError.notBuiltWithMPI(size: n) }
        #endif
        return SingleProcessCommunicator()
    }

    /// Whether this build can run MPI ranks.
    public static var hasMPI: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }
}
