// Redraws a run's loss.svg from its metrics.jsonl after every evaluation.
import Foundation
import GPTIO

public final class LossChartWriter: RunObserver {
    public let metrics: URL
    public let chart: URL
    public let title: String

    public init(metrics: URL, chart: URL, title: String) {
        self.metrics = metrics; self.chart = chart; self.title = title
    }

    public func stepFinished(_ record: StepRecord, evaluation: EvaluationRecord?) throws {
        guard evaluation != nil else { return }
        let (train, validation) = LossChart.series(metrics: metrics)
        try AtomicFile.write(Data(LossChart.svg(train: train, validation: validation, title: title).utf8), to: chart)
    }
}
