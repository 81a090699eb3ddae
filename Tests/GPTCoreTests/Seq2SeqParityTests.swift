// The encoder–decoder Transformer against torch.nn.Transformer: for every reference directory
// (the committed Tests/fixtures/seq2seq/*, made by Tests/scripts/make_seq2seq_reference.py, and
// each entry of GPT_SEQ2SEQ_REFERENCE_DIRS), load model.safetensors by nn.Transformer's names,
// run the padded batch, and compare logits, loss, every gradient, the weights after one AdamW
// step and ten training losses.
//
// The judgement is the GPT parity test's (ParityCheck): every tensor has its own bound relative to
// its own scale, max |ours − ref| ≤ rel · max |ref| + 1e-9, with the same relative bounds per kind
// (ParityCheck.relativeBound); in_proj's query, key and value blocks are judged as three tensors;
// any NaN or infinity fails. The one difference: Adam's step on the key bias (whose gradient is
// rounding noise) is held to 2·lr, not lr (see `compare`).
//
// Measured (2 threads): post-ln-shared worst relative logits 1.7e-7, grad 2.0e-6 (cross-attention
// q bias, margin 10×), after_step 5e-8, losses 9.1e-8; pre-ln-separate logits 2.5e-7, grad 1.1e-6
// (margin 18×), after_step 4.4e-8, losses 1.2e-7; post-ln-no-final-norm (final_norm false: no
// encoder.norm / decoder.norm, Marian's layout) logits 3.1e-7, grad 1.7e-6 (margin 12×), after_step
// 3.9e-8, losses 9.8e-8.
import Foundation
import XCTest
import GPTCore
import GPTIO
import GPTKernels
import GPTTestSupport

final class Seq2SeqParityTests: XCTestCase {
    func testEveryReferenceMatchesTorchTransformer() throws {
        let directories = seq2seqReferenceDirectories()
        guard !directories.isEmpty else { throw XCTSkip("no seq2seq reference directories") }
        for directory in directories {
            let run = try Seq2SeqParityRun(directory)
            let check = run.compare()
            print(check.summary(run.name))
            if ProcessInfo.processInfo.environment["GPT_PARITY_VERBOSE"] != nil { print(check.table(run.name)) }
            XCTAssert(check.problems.isEmpty, "\(run.name): \(check.problems.count) problems:\n" + check.problems.joined(separator: "\n"))
        }
    }

    /// The power of the check above: corruptions of a copy of our outputs, each of a bug this model
    /// could have, must be reported.
    func testParityCheckCatchesCorruptedCrossAttentionAndMaskBugs() throws {
        let directories = seq2seqReferenceDirectories()
        guard let directory = directories.first else { throw XCTSkip("no seq2seq reference directories") }
        let run = try Seq2SeqParityRun(directory)
        XCTAssertEqual(run.compare().problems, [], "the uncorrupted outputs must pass")
        let cross = "decoder.layers.0.multihead_attn.in_proj_weight", c = run.modelSize
        let corruptions: [(String, (inout Seq2SeqParityRun) -> Void, String)] = [
            ("zero key block of cross-attention's in_proj gradient", { run in
                for i in (c * c)..<(2 * c * c) { run.ours["grad." + cross]![i] = 0 }
            }, "grad \(cross)[k]"),
            ("the last logit moved by 1e-3 of the logits' scale", { run in
                let scale = run.reference["logits"]!.map(abs).max()!
                run.ours["logits"]![run.ours["logits"]!.count - 1] += 1e-3 * scale
            }, "logits"),
            ("NaN in one encoder gradient", { $0.ours["grad.encoder.layers.0.linear1.bias"]![0] = .nan },
             "grad encoder.layers.0.linear1.bias"),
        ]
        for (what, corrupt, expected) in corruptions {
            var copy = run
            corrupt(&copy)
            let problems = copy.compare().problems
            XCTAssert(problems.contains { $0.hasPrefix(expected) }, "\(what) was not caught as \(expected): \(problems)")
        }
    }
}

/// Our outputs and the reference's for one directory, as flat named tensors in torch's orientation.
struct Seq2SeqParityRun {
    let name: String
    let tensors: [ParameterTensor]
    let modelSize: Int
    var ours: [String: [Float]] = [:]
    var reference: [String: [Float]] = [:]
    let hyper: AdamWHyperparameters
    let learningRate: Float

    init(_ directory: URL) throws {
        name = directory.lastPathComponent
        let pool = try ThreadPool(threads: 2)
        let model = try Seq2SeqWeights.load(directory: directory, pool: pool)
        tensors = model.layout.tensors
        modelSize = model.config.modelSize
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("reference.safetensors"))
        let meta = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("reference.json"))) as? [String: Any])
        let adamw = try XCTUnwrap(meta["adamw"] as? [String: Double])
        hyper = AdamWHyperparameters(beta1: Float(adamw["beta1"]!), beta2: Float(adamw["beta2"]!),
                                     eps: Float(adamw["eps"]!), weightDecay: Float(adamw["weight_decay"]!))
        learningRate = Float(adamw["lr"]!)
        for key in ["logits", "loss", "losses"] { reference[key] = try file.floats(key) }
        for t in tensors {
            reference["grad." + t.name] = try file.floats("grad." + t.name)
            reference["after_step." + t.name] = try file.floats("after_step." + t.name)
        }
        func ints(_ key: String) throws -> [Int32] { try file.integers(key).map { Int32($0) } }
        let source = try XCTUnwrap(file["source"]), target = try XCTUnwrap(file["target_input"])
        let batch = Seq2SeqBatch(batch: source.shape[0], sourceLength: source.shape[1], targetLength: target.shape[1],
                                 source: try ints("source"), sourceLengths: try ints("source_lengths"),
                                 targetInput: try ints("target_input"), targets: try ints("targets"),
                                 targetLengths: try ints("target_lengths"))

        model.isTraining = true  // the reference ran in train mode with zero dropout
        let loss = try XCTUnwrap(try model.forward(batch))
        ours["logits"] = Array(model.logits)
        ours["loss"] = [loss]
        model.zeroGradients()
        try model.backward()
        for t in tensors { ours["grad." + t.name] = Seq2SeqWeights.torchOrder(UnsafeBufferPointer(model.gradient(t.name)!), of: t) }
        model.step(AdamW(count: model.layout.count, hyper: hyper), learningRate: learningRate)
        for t in tensors { ours["own_step." + t.name] = Seq2SeqWeights.torchOrder(UnsafeBufferPointer(model.parameter(t.name)!), of: t) }

        // One step from PyTorch's gradients, then nine more on the same batch from our own forward and backward.
        let stepped = try Seq2SeqWeights.load(directory: directory, pool: pool)
        stepped.isTraining = true
        let optimizer = AdamW(count: stepped.layout.count, hyper: hyper)
        stepped.zeroGradients()
        for t in tensors {
            _ = stepped.gradient(t.name)!.update(from: Seq2SeqWeights.ourOrder(reference["grad." + t.name]!, of: t))
        }
        stepped.step(optimizer, learningRate: learningRate)
        for t in tensors {
            ours["after_step." + t.name] = Seq2SeqWeights.torchOrder(UnsafeBufferPointer(stepped.parameter(t.name)!), of: t)
        }
        var losses = [loss]
        for _ in 1..<10 {
            stepped.zeroGradients()
            losses.append(try XCTUnwrap(try stepped.forward(batch)))
            try stepped.backward()
            stepped.step(optimizer, learningRate: learningRate)
        }
        ours["losses"] = losses
    }

    /// ParityCheck's judgement of every tensor (in_proj's q, k and v blocks each on its own).
    func compare() -> ParityCheck {
        var check = ParityCheck()
        check.compare(kind: "logits", label: "logits", ours["logits"], reference["logits"])
        check.compare(kind: "loss", label: "loss", ours["loss"], reference["loss"])
        check.compare(kind: "losses", label: "losses", ours["losses"], reference["losses"])
        for t in tensors {
            for (block, indices) in blocks(of: t) {
                let label = t.name + block
                // The key bias's gradient is 0 in exact arithmetic (softmax ignores a constant added to a
                // row of scores), so it is held to the scale of the whole bias, as in the GPT test.
                let scaleIndices = block == "[k]" && t.shape.count == 1 ? Array(0..<t.count) : nil
                check.compare(kind: "grad", label: "grad " + label, ours["grad." + t.name], reference["grad." + t.name],
                              indices, scaleIndices: scaleIndices)
                check.compare(kind: "after_step", label: "after_step " + label, ours["after_step." + t.name],
                              reference["after_step." + t.name], indices)
                let g = reference["grad." + t.name] ?? []
                // Adam's first step moves a weight by lr · g/(|g| + eps), less than lr either way. The key bias's
                // gradient is rounding noise on both sides, whose signs are unrelated, so its elements may end up
                // to 2·lr apart (measured 1.3e-3 with lr 1e-3 in pre-ln-separate's cross-attention); every
                // other tensor's about-zero elements are held to lr, as in the GPT test.
                let excludedBound = (scaleIndices != nil ? 2 : 1) * Double(learningRate)
                check.compare(kind: "own_step", label: "own_step " + label, ours["own_step." + t.name],
                              reference["after_step." + t.name], indices,
                              including: { !ParityCheck.aboutZero(g[$0], eps: hyper.eps) }, excludedBound: excludedBound)
            }
        }
        return check
    }

    /// In torch's orientation in_proj_weight is [3C, C] (q, k, v row blocks) and in_proj_bias [3C].
    func blocks(of t: ParameterTensor) -> [(String, [Int])] {
        guard t.name.contains("in_proj") else { return [("", Array(0..<t.count))] }
        let block = t.count / 3
        return ["q", "k", "v"].enumerated().map { b, letter in ("[\(letter)]", Array((b * block)..<((b + 1) * block))) }
    }
}

/// Tests/fixtures/seq2seq/* in the package, then each directory in GPT_SEQ2SEQ_REFERENCE_DIRS.
func seq2seqReferenceDirectories() -> [URL] {
    var out: [URL] = []
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/seq2seq")
    if let names = try? FileManager.default.contentsOfDirectory(atPath: fixtures.path) {
        for name in names.sorted() {
            let dir = fixtures.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("reference.safetensors").path) { out.append(dir) }
        }
    }
    if let extra = ProcessInfo.processInfo.environment["GPT_SEQ2SEQ_REFERENCE_DIRS"] {
        out += extra.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
    }
    return out
}
