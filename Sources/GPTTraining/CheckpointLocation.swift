// Where a --checkpoint argument points: a checkpoint directory itself, or a run
// directory of `gpt train`, whose latest checkpoint is `checkpoint/` inside it, or a model
// on the Hugging Face hub (`hf:NAME`), read from its local cache and fetched if missing.
import Foundation
import GPTNetwork
import GPTTokenizer

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

    /// The checkpoint directory `spec` names: `hf:NAME` is the snapshot of that hub model in the
    /// Hugging Face cache, with config.json, model.safetensors and the tokenizer files (GPT-2's
    /// vocab.json and merges.txt, or ours) downloaded first if missing; anything else as `resolve`.
    public static func locate(_ spec: String, hub: HubSource = HubSource()) throws -> URL {
        guard HubModel.isReference(spec) else { return resolve(spec) }
        return try hub.snapshot(try HubModel(spec), required: ["config.json", "model.safetensors"],
                                oneOf: [["vocab.json", "merges.txt"], [TokenizerFile.defaultFileName]])
    }

    /// Refuses a malformed `hf:` name before anything runs (a directory is checked when read).
    public static func check(_ spec: String) throws {
        if HubModel.isReference(spec) { _ = try HubModel(spec) }
    }

    /// The name a model goes by: the hub repository of `hf:NAME`, else the directory's name.
    public static func displayName(_ spec: String) -> String {
        if let model = try? HubModel(spec) { return model.repository }
        return URL(fileURLWithPath: spec).standardizedFileURL.lastPathComponent
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
