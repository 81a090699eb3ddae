// Stops the engine when the service group begins a graceful shutdown (SIGINT, SIGTERM).
// It is listed after the HTTP application, and a group shuts its services down last to
// first: the engine stops first, so open streams end with a final chunk at once, and only
// then does the server wait for its connections to close.
import ServiceLifecycle

struct EngineShutdownService: Service {
    let engine: Engine

    func run() async throws {
        try? await gracefulShutdown()
        engine.shutdown()
    }
}
