// What a peer trainer needs to repeat an encoder–decoder run step for step: the initial model, the
// batches in the order this run will train on them, each step's learning rate, and the
// hyper-parameters. Benchmarks/seq2seq_train_torch.py reads it to train torch.nn.Transformer on the
// same data in the same order from the same weights, so the two runs differ only in their kernels
// (and their dropout masks, which no two libraries draw alike).
//
// DIR/config.json, model.safetensors   the initial model (Seq2SeqWeights: nn.Transformer's names)
// DIR/gpt-tokenizer.json               the tokenizer, so DIR is itself a model `gpt translate` loads
// DIR/training.json                    the hyper-parameters the peer must copy
// DIR/batches.bin                      little-endian: magic "GPTS2SB1", Int32 version 1, Int32 steps,
//                                      Int32 micro-batches per step; then per micro-batch: Float32 lr,
//                                      Int32 B, S, T, then Int32 source [B, S] (padded), source
//                                      lengths [B], target input [B, T] (BOS + target, padded),
//                                      targets [B, T] (target + EOS, −1 at padding), target lengths [B]
import Foundation
import GPTCore
import GPTIO
import GPTTokenizer

public enum Seq2SeqPeerExport {
    public static let magic = "GPTS2SB1"

    /// Writes the files above for the next `steps` steps of `trainer`, which is left as it was.
    public static func write(_ trainer: Seq2SeqTrainer, tokenizer: any Tokenizer, steps: Int, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Seq2SeqWeights.save(trainer.model, to: directory)
        try TokenizerFile.write(tokenizer, to: directory.appendingPathComponent(TokenizerFile.defaultFileName))
        let c = trainer.config
        let training: [String: Any] = [
            "steps": steps, "micro_batches_per_step": c.gradAccumulation, "label_smoothing": c.labelSmoothing,
            "beta1": c.beta1, "beta2": c.beta2, "eps": c.optimizer.eps, "weight_decay": c.weightDecay,
            "weight_decay_applies_to": "tensors of two or more dimensions", "grad_clip": c.gradClip,
            "dropout": trainer.model.config.dropout, "dropout_sites": "embeddings (after scaling and positions), attention "
                + "weights, each sub-layer's output, the feed-forward hidden layer", "seed": c.seed, "max_tokens": c.maxTokens,
            "loss": "label-smoothed cross-entropy, the mean over each micro-batch's target tokens, averaged over the micro-batches",
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: training, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("training.json"))
        // Each micro-batch holds at most max_tokens positions, written as source, target input and targets
        // (≤ 3 ids a position) plus two lengths a row: check the whole file's bytes before building it.
        let what = "the batches of \(steps) steps for --export-batches"
        let perBatch = 20 * c.maxTokens + 16  // max_tokens ≤ 2^24 and 5 Int32 a position at most
        let (batches, o1) = steps.multipliedReportingOverflow(by: c.gradAccumulation)
        let (bytes, o2) = batches.multipliedReportingOverflow(by: perBatch)
        guard !o1, !o2, steps >= 0 else { throw MemoryError.overflow(what: what) }
        try MemoryBudget.require(bytes, for: what)
        var out = Data(magic.utf8)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func append(_ values: [Int32]) { for v in values { append(v) } }
        append(Int32(1)); append(Int32(steps)); append(Int32(c.gradAccumulation))
        for (step, micro) in trainer.upcomingBatches(steps: steps).enumerated() {
            let lr = trainer.schedule.rate(at: trainer.stepsDone + step)
            for b in micro {
                append(lr.bitPattern)
                append(Int32(b.batch)); append(Int32(b.sourceLength)); append(Int32(b.targetLength))
                append(b.source); append(b.sourceLengths); append(b.targetInput); append(b.targets); append(b.targetLengths)
            }
        }
        try AtomicFile.write(out, to: directory.appendingPathComponent("batches.bin"))
    }
}
