// What /metrics reports, in Prometheus's text format (swift-prometheus): requests by
// status, prompt and completion tokens, queue depth and running sequences, and histograms
// of time to first token, time per output token, and the engine's forward pass per step
// (time per output token above the step time is what the HTTP side and the host add).
import Foundation
import Prometheus

public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let completionTokens: Counter
    let queueDepth: Gauge
    let running: Gauge
    let timeToFirstToken: ValueHistogram
    let timePerOutputToken: ValueHistogram
    let stepSeconds: ValueHistogram

    public init() {
        promptTokens = registry.makeCounter(name: "gpt_prompt_tokens_total", help: "Prompt tokens of the requests run.")
        completionTokens = registry.makeCounter(name: "gpt_completion_tokens_total", help: "Tokens generated.")
        queueDepth = registry.makeGauge(name: "gpt_queue_depth", help: "Requests waiting for the engine.")
        running = registry.makeGauge(name: "gpt_running_sequences", help: "Sequences being generated.")
        timeToFirstToken = registry.makeValueHistogram(
            name: "gpt_time_to_first_token_seconds", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
            help: "From the request's arrival (queueing included) to its first token.")
        timePerOutputToken = registry.makeValueHistogram(
            name: "gpt_time_per_output_token_seconds", buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
            help: "Mean time between a request's tokens after the first.")
        stepSeconds = registry.makeValueHistogram(
            name: "gpt_engine_step_seconds", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
            help: "The forward pass of one engine step (a token of every running sequence plus any prefill chunk).")
    }

    func request(status: Int) {
        registry.makeCounter(name: "gpt_requests_total", labels: [("status", "\(status)")], help: "HTTP requests by status.").increment()
    }

    /// The exposition text, with the gauges read at this moment.
    func text(queued: Int, running sequences: Int) -> String {
        queueDepth.set(to: Double(queued))
        running.set(to: Double(sequences))
        return registry.emitToString()
    }
}
