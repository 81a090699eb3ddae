// AdamW's moments on disk, under PyTorch's state names: `exp_avg.<tensor>` and
// `exp_avg_sq.<tensor>` in a safetensors file beside the weights.
import GPTCore
import GPTIO

extension AdamW {
    /// Adds the moments of `tensors` (laid out as in this optimizer's buffers) to `file`.
    func addMoments(of tensors: [ParameterTensor], to file: inout SafeTensorsWriter) {
        for t in tensors {
            file.add("exp_avg." + t.name, floats: UnsafeBufferPointer(start: m + t.offset, count: t.count), shape: t.shape)
            file.add("exp_avg_sq." + t.name, floats: UnsafeBufferPointer(start: v + t.offset, count: t.count), shape: t.shape)
        }
    }

    /// Reads back the moments `addMoments` wrote, refusing any tensor of another size.
    func loadMoments(of tensors: [ParameterTensor], from file: SafeTensorsFile) throws {
        for t in tensors {
            for (prefix, buffer) in [("exp_avg.", m), ("exp_avg_sq.", v)] {
                let values = try file.floats(prefix + t.name)
                guard values.count == t.count else {
                    throw CheckpointError.shapeMismatch(tensor: prefix + t.name, expected: t.shape, found: file[prefix + t.name]?.shape ?? [])
                }
                (buffer + t.offset).update(from: values, count: t.count)
            }
        }
    }
}
