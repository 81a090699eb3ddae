// Chat fine-tuning (`gpt finetune chat`) as the run loop drives it: ChatTrainer's steps,
// an evaluation every `evalEvery` steps (assistant-token loss and perplexity on the test
// conversations, and sample replies to the first few of them), and ChatCheckpoint's files.
import Foundation
import GPTGeneration
import GPTTokenizer

public final class ChatRun: TrainingRun {
    public let trainer: ChatTrainer
    public let test: ChatExamples
    public let encoder: ChatEncoder
    public let padding: Int32
    /// Test conversations answered at each evaluation.
    public var sampleCount = 3
    public private(set) var lastEvaluation: ChatLoss?
    /// The sample replies of the last evaluation: (conversation, reference reply, model reply).
    public private(set) var lastSamples: [(prompt: [ChatMessage], reference: String, reply: String)] = []

    public init(trainer: ChatTrainer, test: ChatExamples, encoder: ChatEncoder, padding: Int32) {
        self.trainer = trainer; self.test = test; self.encoder = encoder; self.padding = padding
    }

    public var stepsDone: Int { trainer.stepsDone }
    public var totalSteps: Int { trainer.options.steps }
    public var weightsAreFinite: Bool { trainer.model.parametersAreFinite }
    public var position: String { "after step \(trainer.stepsDone - 1)" }

    public func step() throws -> StepRecord {
        let epoch = trainer.currentEpoch
        let r = try trainer.step()
        return StepRecord(step: trainer.stepsDone - 1, loss: r.loss, learningRate: r.learningRate, milliseconds: r.milliseconds,
                          tokens: r.tokens, fields: ["epoch": Double(epoch), "assistant_tokens": Double(r.targets)],
                          detail: "epoch \(epoch)")
    }

    public func evaluationDue(after record: StepRecord) -> Bool { trainer.evaluationDue(after: record.step) }

    public func evaluate(after record: StepRecord) throws -> EvaluationRecord {
        let result = try test.evaluate(trainer.model, padding: padding, batchSize: trainer.options.batchSize)
        lastEvaluation = result
        var summary = [String(format: "step %5d/%d  train loss %.4f  test loss %.4f  perplexity %.2f  (%d assistant tokens)",
                              record.step, totalSteps, record.loss, result.loss, result.perplexity, result.tokens)]
        lastSamples = sampleReplies(seed: trainer.options.seed &+ UInt64(record.step))
        for sample in lastSamples {
            let last = sample.prompt.last.map { "\($0.role.rawValue): \($0.content)" } ?? ""
            summary.append("  " + Self.oneLine(last))
            summary.append("    reference: " + Self.oneLine(sample.reference))
            summary.append("    model:     " + Self.oneLine(sample.reply))
        }
        return EvaluationRecord(loss: result.loss, fields: ["test_loss": result.loss, "test_perplexity": result.perplexity,
                                                           "val_loss": result.loss],
                                summary: summary)
    }

    /// Replies (up to 48 tokens, temperature 0.7) to the first `sampleCount` test conversations, without their last reply.
    public func sampleReplies(seed: UInt64, count: Int? = nil, maxTokens: Int = 48) -> [(prompt: [ChatMessage], reference: String, reply: String)] {
        let replier = ChatReplier(model: trainer.model, encoder: encoder)
        var options = GenerationOptions()
        options.maxNewTokens = maxTokens
        options.sampling = SamplingOptions(temperature: 0.7)
        options.seed = seed
        return test.conversations.prefix(count ?? sampleCount).compactMap { conversation in
            let prompt = Array(conversation.dropLast())
            guard let reply = try? replier.reply(to: prompt, options: options) else { return nil }
            return (prompt, conversation.last?.content ?? "", reply.text)
        }
    }

    static func oneLine(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ⏎ ")
        return flat.count > 160 ? String(flat.prefix(160)) + "…" : flat
    }

    public func writeCheckpoint(to directory: URL) throws {
        try ChatCheckpoint.write(trainer, tokenizer: encoder.tokenizer, template: encoder.template, to: directory)
    }

    public func restore(from checkpoint: URL) throws {
        try ChatCheckpoint.restore(trainer, tokenizer: encoder.tokenizer, template: encoder.template, from: checkpoint)
    }
}
