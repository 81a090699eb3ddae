// Where a --checkpoint argument points: a checkpoint directory itself, or a run
// directory of `gpt train`, whose latest checkpoint is `checkpoint/` inside it.
import Foundation

public enum CheckpointLocation {
    /// The checkpoint directory `path` names.
    public static func resolve(_ path: String) -> URL {
        let url = URL(fileURLWithPath: path)
        let fm = FileManager.default
        let inner = url.appendingPathComponent(TrainingCheckpoint.linkName)
        if !fm.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) && fm.fileExists(atPath: inner.path) {
            return inner
        }
        return url
    }

    /// Refuses an output directory that holds the source checkpoint: saving there would switch its
    /// `checkpoint` link and delete the checkpoint directories no link names, the source among them.
    public static func refuseOutput(_ out: String, holding source: URL) throws {
        let output = URL(fileURLWithPath: out).standardizedFileURL.resolvingSymlinksInPath().path
        let input = source.standardizedFileURL.resolvingSymlinksInPath().path
        guard input != output && !input.hasPrefix(output + "/") else {
            throw CheckpointLocationError("--out \(out) holds the checkpoint being read (\(input)); write to another directory")
        }
    }
}

public struct CheckpointLocationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
