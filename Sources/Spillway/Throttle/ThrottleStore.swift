/// Where a ``RateLimiter`` runs its atomic GCRA step: the shared cache.
///
/// ``GuardedCache`` conforms, so the step goes through the whole chain (key guard, breaker) and
/// reaches the backend as one atomic ``CacheOperation/throttle(_:_:)``: the actor's step on
/// `MemoryCache`, a Lua script on Redis.
public protocol ThrottleStore: Sendable {
    /// Runs one GCRA step on `key`, atomically on the backend.
    /// - Parameters:
    ///   - key: the limiter's key for one client and scope.
    ///   - parameters: the limit.
    ///   - route: the route the step runs for (selects the cache policy).
    /// - Throws: ``CacheError`` when the shared state cannot be read or written.
    func throttleStep(_ key: CacheKey, _ parameters: GCRAParameters, route: String?) async throws(CacheError) -> GCRADecision
}

extension GuardedCache: ThrottleStore {
    /// Runs one GCRA step through the chain.
    /// - Throws: ``CacheError``.
    @inlinable
    public func throttleStep(_ key: CacheKey, _ parameters: GCRAParameters, route: String?) async throws(CacheError) -> GCRADecision {
        try await throttle(key, parameters, route: route)
    }
}
