public import ServiceLifecycle

extension RedisClient: Service {
    /// Owns the client's lifetime in a `ServiceGroup`: returns when graceful shutdown is
    /// triggered or the task is cancelled, after closing every connection (as ``close()``:
    /// commands still waiting fail with `.connection`, later ones too). Connections still open on
    /// first use, so commands may run before, or without, `run()`.
    /// - Throws: nothing; shutdown and cancellation both end in a closed client.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
