public import Logging
internal import NIOCore

/// A GCRA rate limiter over the shared cache, that never fails a request because the cache did.
///
/// Each decision is one atomic ``CacheOperation/throttle(_:_:)`` on one small key per client and
/// scope (`rl:<scope>:<client>`, holding a single timestamp, never a list). When the step fails
/// (the backend is out of memory, unreachable, or the write breaker is open), the policy's
/// ``ThrottlePolicy/onCacheFailure`` decides:
///
/// - `allow`: the request passes (`degraded_allow`);
/// - `deny`: it is refused with a retry-after of one emission interval, at least a second
///   (`degraded_deny`), so an HTTP layer answers 429 with `Retry-After`;
/// - `local`: an in-process ``LocalRateLimiter`` decides with ``ThrottlePolicy/localShare`` of
///   the limit (`degraded_local`).
///
/// Every path is counted in ``stats`` (and through swift-metrics). ``decide(client:scope:policy:)``
/// never throws.
public struct RateLimiter<Store: ThrottleStore, C: Clock>: Sendable where C.Duration == Duration {
    /// The shared cache the step runs on.
    public let store: Store
    /// The in-process limiter for `onCacheFailure: local`.
    public let local: LocalRateLimiter<C>
    /// Decisions by path.
    public let stats: RateLimitStats
    /// Where degraded decisions are logged (at `debug`; they are counted, not logged one by one
    /// at higher levels, so an outage does not flood the log).
    public let logger: Logger
    /// The prefix of every limiter key.
    public let keyPrefix: String

    /// Creates a limiter.
    /// - Parameters:
    ///   - store: the shared cache (usually a ``GuardedCache``).
    ///   - clock: the clock of the local fallback limiter.
    ///   - localMaxKeys: the most clients the local limiter tracks.
    ///   - keyPrefix: the prefix of limiter keys.
    ///   - stats: the counters to update (pass one to share it).
    ///   - logger: where degraded decisions are logged.
    public init(
        store: Store, clock: C, localMaxKeys: Int = 10_000, keyPrefix: String = "rl:",
        stats: RateLimitStats = RateLimitStats(), logger: Logger = CacheContext.disabledLogger
    ) {
        self.store = store
        self.local = LocalRateLimiter(maxKeys: localMaxKeys, clock: clock)
        self.keyPrefix = keyPrefix
        self.stats = stats
        self.logger = logger
        if !store.stepsAtomically {
            logger.warning(
                "spillway rate limiter: the backend cannot run a GCRA step atomically (it reads, then writes); concurrent requests for one client may exceed the limit",
                metadata: ["store": "\(Store.self)"]
            )
        }
    }

    /// Whether each decision is one atomic step on the backend. When `false` (a Hummingbird
    /// `PersistDriver`), a warning was logged at creation: concurrent requests for one client
    /// may both pass.
    public var isAtomic: Bool { store.stepsAtomically }

    /// The key of one client in one scope.
    public func key(client: String, scope: String) -> String {
        keyPrefix + scope + ":" + client
    }

    /// Decides one request.
    /// - Parameters:
    ///   - client: who is asking (a user id, an API key, an address).
    ///   - scope: what is limited (usually the route, `"POST /orders"`); also the cache route.
    ///   - policy: the limit and what to do when the cache fails.
    /// - Returns: the decision; never throws.
    public func decide(client: String, scope: String, policy: ThrottlePolicy) async -> RateLimitDecision {
        // One buffer, sized once: the key costs a single allocation.
        var bytes = ByteBuffer()
        bytes.reserveCapacity(keyPrefix.utf8.count + scope.utf8.count + 1 + client.utf8.count)
        bytes.writeString(keyPrefix)
        bytes.writeString(scope)
        bytes.writeInteger(UInt8(ascii: ":"))
        bytes.writeString(client)
        let parameters = policy.parameters
        let shared: GCRADecision
        do {
            shared = try await store.throttleStep(CacheKey(bytes: bytes), parameters, route: scope)
        } catch {
            return degraded(key: key(client: client, scope: scope), scope: scope, policy: policy, error: error)
        }
        let path: RateLimitPath = shared.allowed ? .allowed : .denied
        stats.record(path)
        return RateLimitDecision(
            allowed: shared.allowed, limit: policy.limit, remaining: shared.remaining,
            retryAfter: shared.retryAfter, resetAfter: shared.resetAfter, path: path
        )
    }

    func degraded(key: String, scope: String, policy: ThrottlePolicy, error: CacheError) -> RateLimitDecision {
        logger.debug(
            "spillway rate limiter degraded",
            metadata: ["scope": "\(scope)", "mode": "\(policy.onCacheFailure)", "code": "\(error.code)"]
        )
        let parameters = policy.parameters
        let capacity = parameters.capacity
        switch policy.onCacheFailure {
        case .allow:
            stats.record(.degradedAllow)
            return RateLimitDecision(
                allowed: true, limit: policy.limit, remaining: max(0, capacity - 1), retryAfter: .zero, resetAfter: .zero,
                path: .degradedAllow, failure: error.code
            )
        case .deny:
            stats.record(.degradedDeny)
            let retry = max(parameters.emissionInterval, .seconds(1))
            return RateLimitDecision(
                allowed: false, limit: policy.limit, remaining: 0, retryAfter: retry, resetAfter: retry,
                path: .degradedDeny, failure: error.code
            )
        case .local:
            stats.record(.degradedLocal)
            let localParameters = LocalRateLimiter<C>.localParameters(policy)
            let decision = local.step(key, localParameters)
            let localLimit = max(1, Int((Double(policy.limit) * min(1, max(0, policy.localShare))).rounded(.down)))
            return RateLimitDecision(
                allowed: decision.allowed, limit: localLimit, remaining: decision.remaining,
                retryAfter: decision.retryAfter, resetAfter: decision.resetAfter, path: .degradedLocal, failure: error.code
            )
        }
    }
}

extension RateLimiter where C == ContinuousClock {
    /// Creates a limiter whose local fallback runs on the continuous clock.
    /// - Parameters:
    ///   - store: the shared cache (usually a ``GuardedCache``).
    ///   - localMaxKeys: the most clients the local limiter tracks.
    ///   - keyPrefix: the prefix of limiter keys.
    ///   - stats: the counters to update.
    ///   - logger: where degraded decisions are logged.
    public init(
        store: Store, localMaxKeys: Int = 10_000, keyPrefix: String = "rl:",
        stats: RateLimitStats = RateLimitStats(), logger: Logger = CacheContext.disabledLogger
    ) {
        self.init(store: store, clock: ContinuousClock(), localMaxKeys: localMaxKeys, keyPrefix: keyPrefix, stats: stats, logger: logger)
    }
}
