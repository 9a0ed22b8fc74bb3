public import ServiceLifecycle

extension RedisClusterClient: Service {
    /// Refreshes the topology every ``RedisClusterConfiguration/periodicRefreshInterval`` (within
    /// the bounds every refresh keeps) until graceful shutdown is triggered or the task is
    /// cancelled, then closes every node's connections (as ``close()``). Operations work
    /// before, or without, `run()`; it only adds the periodic refresh.
    /// - Throws: nothing; shutdown and cancellation both end in a closed client.
    public func run() async throws {
        if let interval = configuration.periodicRefreshInterval {
            await cancelWhenGracefulShutdown { [self] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    await requestRefresh(.periodic)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        await close()
    }
}
