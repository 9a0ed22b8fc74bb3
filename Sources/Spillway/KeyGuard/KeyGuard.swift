internal import NIOCore
public import Metrics
internal import Logging

/// Enforces `maxKeyBytes` on every key of every operation, so a GET finds what a SET wrote.
///
/// A key within the limit passes unchanged, with no allocation. A longer key is rejected
/// (`keyOverflow: reject`) with `.rejectedByPolicy`, or rewritten by the ``KeyHasher``
/// (`keyOverflow: hash`). An empty key is always `.invalidArgument`.
///
/// A key of any length that already has the hashed form (``KeyHasher/hasHashedForm(_:)``) is
/// hashed too, whatever `keyOverflow` says, so a raw key can never name a hashed key's value.
///
/// In strict mode (for tests) a key that would be hashed or rejected throws `.strictMode`, naming
/// the caller's file and line, so oversized keys fail tests before production sees one.
///
/// At start (when a ``GuardedCache`` is built) a hasher with the public default key material is
/// reported once: a warning log and the counter `spillway_key_hash_default_secret_total`; with
/// ``PolicyTable/requireSecret`` the cache refuses to start instead.
public struct KeyGuard: CacheMiddleware {
    /// The hasher for `keyOverflow: hash`.
    public let hasher: KeyHasher
    /// Whether every hash or rejection is an error naming the call site.
    public let strict: Bool
    @usableFromInline let metrics: KeyGuardMetrics

    /// Creates a key guard.
    /// - Parameters:
    ///   - hasher: the hasher (carries the deployment secret).
    ///   - strict: fail on any key that would be hashed or rejected (for tests).
    ///   - metricsFactory: where the guard's metrics go; `nil` uses the global `MetricsSystem`.
    public init(hasher: KeyHasher = KeyHasher(), strict: Bool = false, metricsFactory: (any MetricsFactory)? = nil) {
        self.hasher = hasher
        self.strict = strict
        self.metrics = KeyGuardMetrics(factory: metricsFactory)
    }

    /// Reports the public default key material once, and refuses it under
    /// ``PolicyTable/requireSecret``.
    /// - Throws: ``CacheError`` with code ``CacheError/Code/invalidArgument`` when the table
    ///   requires a secret and the hasher uses ``KeyHasher/defaultKeyMaterial``.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        guard hasher.usesDefaultSecret else { return }
        if startup.policies.requireSecret {
            startup.logger.error("refusing to start: the key hasher uses the public default key material and the policy requires a secret")
            throw CacheError(
                .invalidArgument,
                "requireSecret: the key hasher uses the public default key material; pass KeyHasher(secret: XXH3Secret(keyMaterial: <deployment secret>))"
            )
        }
        metrics.countDefaultSecret()
        startup.logger.warning(
            "the key hasher uses the public default key material: anyone can compute hashed keys offline; set a deployment secret (KeyHasher(secret:)), or requireSecret to refuse this"
        )
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let policy = context.policy
        switch operation {
        case .get(let key):
            return try await next(.get(try guarded(key, policy, context)), context)
        case .set(let key, let value, let options):
            return try await next(.set(try guarded(key, policy, context), value, options), context)
        case .delete(let key):
            return try await next(.delete(try guarded(key, policy, context)), context)
        case .exists(let key):
            return try await next(.exists(try guarded(key, policy, context)), context)
        case .increment(let key, let by, let ttl):
            return try await next(.increment(try guarded(key, policy, context), by: by, ttlOnCreate: ttl), context)
        case .expire(let key, let ttl):
            return try await next(.expire(try guarded(key, policy, context), ttl: ttl), context)
        case .throttle(let key, let parameters):
            return try await next(.throttle(try guarded(key, policy, context), parameters), context)
        case .deleteReturningHead(let key, let headBytes):
            return try await next(.deleteReturningHead(try guarded(key, policy, context), headBytes: headBytes), context)
        case .expireReturningHead(let key, let ttl, let headBytes):
            return try await next(.expireReturningHead(try guarded(key, policy, context), ttl: ttl, headBytes: headBytes), context)
        case .mget(let keys):
            var out = keys
            for i in out.indices {
                out[i] = try guarded(keys[i], context.policies.resolve(route: context.route, key: keys[i]), context)
            }
            return try await next(.mget(out), context)
        case .mset(let pairs, let ttl):
            var out = pairs
            for i in out.indices {
                out[i].key = try guarded(pairs[i].key, context.policies.resolve(route: context.route, key: pairs[i].key), context)
            }
            return try await next(.mset(out, ttl: ttl), context)
        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            var out = pairs
            for i in out.indices {
                out[i].key = try guarded(pairs[i].key, context.policies.resolve(route: context.route, key: pairs[i].key), context)
            }
            return try await next(.msetReturningHeads(out, ttl: ttl, headBytes: headBytes), context)
        }
    }

    /// The key as it should reach the backend under `policy`.
    /// - Throws: `.invalidArgument` (empty key), `.rejectedByPolicy` (too long, `reject`),
    ///   `.strictMode` (strict and too long, or shaped like a hashed key).
    @inlinable
    public func guarded(_ key: CacheKey, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) -> CacheKey {
        let size = key.count
        if size <= policy.maxKeyBytes && size > 0 && !KeyHasher.hasHashedForm(key) { return key }
        return try slowPath(key, policy, context)
    }

    @usableFromInline
    func slowPath(_ key: CacheKey, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) -> CacheKey {
        if key.count == 0 {
            throw CacheError(.invalidArgument, "empty key at \(context.callSite)", route: context.route)
        }
        let oversized = key.count > policy.maxKeyBytes
        let counters = metrics.route(context.route ?? "-")
        if strict {
            counters.strictFailures.increment()
            let reason =
                oversized
                ? "key of \(key.count) bytes exceeds maxKeyBytes \(policy.maxKeyBytes)"
                : "key of \(key.count) bytes has the hashed-key form (…#v1:<32 hex> or …#v2:<32 hex>)"
            let fate = !oversized || policy.keyOverflow == .hash ? "hashed" : "rejected"
            throw CacheError(
                .strictMode,
                "strict mode: \(reason) at \(context.callSite) and would be \(fate); key starts \"\(key.preview())\"",
                route: context.route
            )
        }
        let maxKeyBytes = max(policy.maxKeyBytes, CachePolicy.minimumMaxKeyBytes)
        guard oversized else {
            // A raw key shaped like a hashed key: hash it, so that it cannot name a hashed key.
            counters.hashShaped.increment()
            return hasher.hashed(key, maxKeyBytes: maxKeyBytes)
        }
        counters.oversizedBytes.record(key.count)
        switch policy.keyOverflow {
        case .reject:
            counters.rejected.increment()
            throw CacheError(
                .rejectedByPolicy,
                "key of \(key.count) bytes exceeds maxKeyBytes \(policy.maxKeyBytes) on route \(context.route ?? "-"); key starts \"\(key.preview())\"",
                route: context.route
            )
        case .hash:
            counters.hashed.increment()
            let hashed = hasher.hashed(key, maxKeyBytes: maxKeyBytes)
            context.logger.trace("hashed oversized key", metadata: ["bytes": "\(key.count)", "key": "\(hashed.preview(limit: 96))"])
            return hashed
        }
    }
}
