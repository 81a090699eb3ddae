import Foundation
import XCTest
import GPTCore
import GPTKernels
import GPTTraining

final class TrainingConfigTests: XCTestCase {
    func testPresetsMatchNanoGPTConfigurations() throws {
        let cpu = try TrainingConfig.preset("shakespeare-char-cpu")
        XCTAssertEqual([cpu.model.layerCount, cpu.model.headCount, cpu.model.embeddingSize, cpu.model.contextLength, cpu.batchSize,
                        cpu.steps, cpu.evalBatches], [4, 4, 128, 64, 12, 2000, 20])
        XCTAssertEqual(cpu.learningRate, 1e-3); XCTAssertEqual(cpu.model.residualDropout, 0)
        let gpu = try TrainingConfig.preset("shakespeare-char")
        XCTAssertEqual([gpu.model.layerCount, gpu.model.headCount, gpu.model.embeddingSize, gpu.model.contextLength, gpu.batchSize,
                        gpu.steps], [6, 6, 384, 256, 64, 5000])
        XCTAssertEqual(gpu.model.attentionDropout, 0.2)
        XCTAssertEqual(try TrainingConfig.preset("gpt2-124m").model.embeddingSize, 768)
        XCTAssertThrowsError(try TrainingConfig.preset("tiny")) { XCTAssert("\($0)".contains("demo")) }
    }

    func testSetParsesEveryFieldAndNamesBadValues() throws {
        var c = try TrainingConfig.preset("demo")
        for (key, value) in [("n_layer", "2"), ("learning_rate", "3e-4"), ("dropout", "0.1"), ("bias", "false"),
                             ("position_embedding", "sinusoidal"), ("activation_function", "relu"), ("grad_accumulation", "4"),
                             ("seed", "18446744073709551615")] {
            try c.set(key, value)
        }
        XCTAssertEqual(c.model.layerCount, 2); XCTAssertEqual(c.learningRate, 3e-4)
        XCTAssertEqual(c.model.attentionDropout, 0.1); XCTAssertFalse(c.model.bias)
        XCTAssertEqual(c.model.positions, .sinusoidal); XCTAssertEqual(c.model.activation, .relu)
        XCTAssertEqual(c.options.gradientAccumulation, 4); XCTAssertEqual(c.seed, .max)
        for (key, value) in [("n_layer", "0"), ("n_layer", "two"), ("learning_rate", "-1"), ("dropout", "1"), ("bias", "maybe"),
                             ("beta2", "nan")] {
            XCTAssertThrowsError(try c.set(key, value)) {
                XCTAssertEqual(($0 as? TrainingConfigError).map { "\($0)" }?.contains("\(key) = \(value)"), true, "\($0)")
            }
        }
        XCTAssertThrowsError(try c.set("n_embdd", "3")) { XCTAssertEqual($0 as? TrainingConfigError, .unknownField("n_embdd")) }
    }

    func testJSONConfigAppliesFieldsInTheirTypes() throws {
        var c = try TrainingConfig.preset("demo")
        try c.apply(json: Data(#"{"n_head": 8, "bias": false, "learning_rate": 0.0005, "activation_function": "relu"}"#.utf8),
                    source: "test.json")
        XCTAssertEqual(c.model.headCount, 8); XCTAssertFalse(c.model.bias)
        XCTAssertEqual(c.learningRate, 5e-4); XCTAssertEqual(c.model.activation, .relu)
        XCTAssertThrowsError(try c.apply(json: Data("[1]".utf8), source: "bad.json")) { XCTAssert("\($0)".contains("bad.json")) }
        XCTAssertEqual(c.resolved["learning_rate"] as? Double, 0.0005, "printed as written, not as Float's nearest Double")
    }

    /// Config files keep their JSON types: a boolean or a fraction for an integer field, a duplicate
    /// key (parsers disagree on which wins) and a non-finite number are refused by name.
    func testJSONConfigRefusesWrongTypesDuplicatesAndNonFiniteValues() throws {
        var c = try TrainingConfig.preset("demo")
        let cases: [(String, String)] = [(#"{"n_layer": true}"#, "n_layer = true"), (#"{"n_layer": 32.5}"#, "n_layer = 32.5"),
                                         (#"{"learning_rate": 1e-50}"#, "learning_rate = 1e-50"),
                                         (#"{"grad_clip": "nan"}"#, "grad_clip = nan"),
                                         (#"{"weight_decay": -5}"#, "weight_decay = -5"),
                                         (#"{"n_layer": 2, "n_layer": 3}"#, "'n_layer' appears more than once"),
                                         (#"{"bias": 1}"#, "bias = 1"), (#"{"seed": -1}"#, "seed = -1")]
        for (json, message) in cases {
            XCTAssertThrowsError(try c.apply(json: Data(json.utf8), source: "run.json"), json) {
                XCTAssert("\($0)".contains(message), "\(json): \($0)")
            }
        }
        XCTAssertThrowsError(try c.set("grad_clip", "nan")) { XCTAssert("\($0)".contains("grad_clip = nan")) }
        try c.apply(json: Data(#"{"seed": 18446744073709551615, "n_layer": 3}"#.utf8), source: "run.json")
        XCTAssertEqual(c.seed, .max); XCTAssertEqual(c.model.layerCount, 3)
    }

    /// One table: every settable field is resolved into config.json and listed once.
    func testTheConfigTableCoversEveryResolvedField() throws {
        let c = try TrainingConfig.preset("demo")
        let keys = TrainingConfig.fields.map(\.key)
        XCTAssertEqual(Set(keys).count, keys.count, "no field twice")
        XCTAssertEqual(Set(c.resolved.keys), Set(keys).subtracting(["dropout"]).union(["vocab_size"]))
        XCTAssertEqual(Set(TrainingConfig.shapeFields),
                       ["n_positions", "n_embd", "n_layer", "n_head", "activation_function", "bias", "position_embedding",
                        "model_type", "dim_feedforward", "norm_first", "final_norm"])
        // Every resolved value reads back to the same config.
        var again = TrainingConfig(model: c.model)
        for field in TrainingConfig.fields {
            guard let value = field.value(in: c) else { continue }
            try again.set(field.key, "\(value)")
        }
        XCTAssertEqual(again.resolved as NSDictionary, c.resolved as NSDictionary)
    }

    /// Accumulating two micro-batches of 4 gives the gradient of one batch of 8 (same windows).
    func testGradientAccumulationAveragesMicroBatches() throws {
        let config = GPTConfig(vocabSize: 11, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 2)
        var rng = SplitMix64(seed: 1)
        let x = (0..<64).map { _ in Int32(rng.next() % 11) }, y = (0..<64).map { _ in Int32(rng.next() % 11) }
        let whole = try GPT(config: config, seed: 2, pool: ThreadPool(threads: 1))
        whole.zeroGradients()
        try whole.forward(tokens: x, targets: y, batch: 8, seq: 8)
        try whole.backward()
        let parts = try GPT(config: config, seed: 2, pool: ThreadPool(threads: 1))
        parts.zeroGradients()
        for half in 0..<2 {
            try parts.forward(tokens: Array(x[(half * 32)..<(half * 32 + 32)]), targets: Array(y[(half * 32)..<(half * 32 + 32)]),
                              batch: 4, seq: 8)
            try parts.backward(lossScale: 0.5)
        }
        for i in 0..<whole.layout.count {
            XCTAssertEqual(parts.gradients![i], whole.gradients![i], accuracy: 1e-6 * max(1, abs(whole.gradients![i])))
        }
    }
}

final class TranslationPresetTests: XCTestCase {
    /// translate-small is the encoder–decoder of the brief, and `--set` reaches its own fields.
    func testTranslateSmallIsASixLayerEncoderDecoderWithTheInverseSquareRootSchedule() throws {
        var c = try TrainingConfig.preset("translate-small")
        XCTAssertEqual(c.modelType, .transformer)
        XCTAssertEqual([c.model.embeddingSize, c.model.layerCount, c.model.headCount, c.feedForwardSize ?? 0], [256, 6, 4, 1024])
        XCTAssertEqual(c.model.residualDropout, 0.1); XCTAssertEqual(c.labelSmoothing, 0.1)
        XCTAssertEqual(c.scheduleKind, .inverseSquareRoot)
        // lr_scale 0.5 with warmup 1000 peaks where warmup 4000 would at d_model 256: 256^-0.5 · 4000^-0.5.
        XCTAssertEqual(Double(c.schedule.rate(at: 999)), 0.5 / 16 / 1000.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(Double(c.schedule.rate(at: 999)), 1 / 16 / 4000.0.squareRoot(), accuracy: 2e-5)
        try c.set("model_type", "gpt2"); XCTAssertEqual(c.modelType, .gpt2)
        try c.set("label_smoothing", "0"); XCTAssertEqual(c.labelSmoothing, 0)
        try c.set("max_tokens", "2048"); XCTAssertEqual(c.maxTokens, 2048)
        XCTAssertThrowsError(try c.set("model_type", "bart")) {
            XCTAssertEqual("\($0)", "invalid config: model_type = bart: must be gpt2 or transformer")
        }
        XCTAssertThrowsError(try c.set("label_smoothing", "1")) { XCTAssert("\($0)".contains("label_smoothing = 1")) }
        XCTAssertFalse(try TrainingConfig.preset("translate-small").finalNorm, "translate-small exports as Marian: no final norms")
    }

    /// A field the architecture or the schedule ignores is named when a user sets it, not passed over.
    func testFieldsTheArchitectureOrTheScheduleIgnoresAreNamed() throws {
        let translate = try TrainingConfig.preset("translate-small"), gpt = try TrainingConfig.preset("demo")
        for key in ["bias", "embd_pdrop", "attn_pdrop", "activation_function", "position_embedding", "batch_size"] {
            XCTAssertEqual(translate.inapplicable(["n_embd", key])?.key, key)
            XCTAssertNil(gpt.inapplicable([key]), key)
        }
        for key in ["dim_feedforward", "norm_first", "final_norm", "label_smoothing", "max_tokens"] {
            XCTAssertEqual(gpt.inapplicable([key])?.key, key)
            XCTAssertNil(translate.inapplicable([key]), key)
        }
        XCTAssertEqual(translate.inapplicable(["learning_rate"])?.key, "learning_rate")
        XCTAssertEqual(gpt.inapplicable(["lr_scale"])?.key, "lr_scale")
        XCTAssertNil(translate.inapplicable(["n_embd", "dropout", "resid_pdrop", "steps", "warmup_steps", "lr_scale", "seed"]))
        XCTAssert(translate.inapplicable(["bias"])!.reason.contains("model_type transformer"))
    }
}
