// Running the server until a signal (or the caller's cancellation) stops it.
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

extension OpenAIServer {
    /// Serves until one of `signals` arrives (then: stop accepting, end streams with a final
    /// chunk, return) or the calling task is cancelled. `onReady(port)` runs once it listens.
    public func run(logger: Logger, signals: [UnixSignal] = [.sigterm, .sigint],
                    onReady: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: application(logger: logger, onReady: onReady)),
                       .init(service: EngineShutdownService(engine: engine))],
            gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
        engine.shutdown()
    }
}
