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
