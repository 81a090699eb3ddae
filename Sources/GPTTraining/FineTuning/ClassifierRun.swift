// Classifier fine-tuning (`gpt finetune classify`) as the run loop drives it: one
// length-grouped batch per step, a test-set evaluation (accuracy, macro-F1, confusion
// matrix) at the end of every epoch, and ClassifierCheckpoint's files.
import Foundation
import GPTTokenizer

public final class ClassifierRun: TrainingRun {
    public let trainer: ClassifierTrainer
    public let test: ClassificationInputs
    public let settings: ClassifierSettings
    public let tokenizer: any Tokenizer
    public let padding: Int32
    /// The last evaluation, for a command's closing report.
    public private(set) var lastEvaluation: ClassifierEvaluation?
    private let started = Date()

    public init(trainer: ClassifierTrainer, test: ClassificationInputs, settings: ClassifierSettings, tokenizer: any Tokenizer,
                padding: Int32) {
        self.trainer = trainer; self.test = test; self.settings = settings; self.tokenizer = tokenizer; self.padding = padding
    }

    public var stepsDone: Int { trainer.stepsDone }
    public var totalSteps: Int { trainer.totalSteps }
    public var weightsAreFinite: Bool { trainer.classifier.model.parametersAreFinite }
    public var position: String {
        trainer.stepsDone % trainer.stepsPerEpoch == 0 ? "after epoch \(trainer.completedEpochs)" : "in epoch \(trainer.currentEpoch)"
    }

    public func step() throws -> StepRecord {
        let r = try trainer.step()
        return StepRecord(step: r.step - 1, loss: r.loss.total, learningRate: r.learningRate, milliseconds: r.milliseconds,
                          fields: [:],
                          detail: String(format: "epoch %d/%d  (classifier %.4f, LM %.4f)", r.epoch, trainer.options.epochs,
                                         r.loss.classification, r.loss.languageModel))
    }

    /// After the last step of every epoch.
    public func evaluationDue(after record: StepRecord) -> Bool { trainer.stepsDone % trainer.stepsPerEpoch == 0 }

    public func evaluate(after record: StepRecord) throws -> EvaluationRecord {
        let epoch = trainer.completedEpochs, trainLoss = trainer.epochMeanLoss
        let evaluation = try trainer.classifier.evaluate(test, labels: settings.labels, padding: padding)
        lastEvaluation = evaluation
        let m = evaluation.metrics
        let summary = [String(format: "epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.4f  macro-F1 %.4f  (%.0f s)",
                              epoch, trainer.options.epochs, trainLoss, evaluation.meanLoss, m.accuracy, m.macroF1,
                              Date().timeIntervalSince(started)),
                       m.table]
        let fields: [String: Any] = ["epoch": epoch, "train_loss": Double(trainLoss), "test_loss": Double(evaluation.meanLoss),
                                     "test_accuracy": m.accuracy, "test_macro_f1": m.macroF1, "confusion_matrix": m.confusion]
        return EvaluationRecord(loss: Double(evaluation.meanLoss), fields: fields, summary: summary)
    }

    public func writeCheckpoint(to directory: URL) throws {
        try ClassifierCheckpoint.write(trainer.classifier, settings: settings, tokenizer: tokenizer, to: directory, trainer: trainer)
    }

    public func restore(from checkpoint: URL) throws {
        try ClassifierCheckpoint.restore(trainer, settings: settings, from: checkpoint)
    }
}
