// Where a --checkpoint argument points: a checkpoint directory itself, or a run
// directory of `gpt train`, whose latest checkpoint is `checkpoint/` inside it.
import Foundation
import GPTTraining

func checkpointDirectory(_ path: String) -> URL {
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
func refuseOutputHoldingSource(out: String, source: URL) throws {
    let output = URL(fileURLWithPath: out).standardizedFileURL.resolvingSymlinksInPath().path
    let input = source.standardizedFileURL.resolvingSymlinksInPath().path
    guard input != output && !input.hasPrefix(output + "/") else {
        throw CommandError("--out \(out) holds the checkpoint being read (\(input)); write to another directory")
    }
}
