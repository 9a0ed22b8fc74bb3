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

    /// Whether the backend runs a step atomically (a Lua script, an actor). A store that reads
    /// then writes (a Hummingbird `PersistDriver`) lets two concurrent steps on one key both
    /// pass, so a limiter over it may admit more than its limit. Defaults to `true`.
    var stepsAtomically: Bool { get }
}

extension ThrottleStore {
    /// Atomic unless the store says otherwise.
    public var stepsAtomically: Bool { true }
}

extension GuardedCache: ThrottleStore {
    /// Whether the client's throttle step is atomic (``CacheCapabilities/atomicThrottle``).
    public var stepsAtomically: Bool { client.capabilities.atomicThrottle }

    /// Runs one GCRA step through the chain.
    /// - Throws: ``CacheError``.
    @inlinable
    public func throttleStep(_ key: CacheKey, _ parameters: GCRAParameters, route: String?) async throws(CacheError) -> GCRADecision {
        try await throttle(key, parameters, route: route)
    }
}
