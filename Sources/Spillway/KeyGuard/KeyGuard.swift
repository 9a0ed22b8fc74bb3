internal import NIOCore
internal import Metrics
internal import Logging

/// Enforces `maxKeyBytes` on every key of every operation, so a GET finds what a SET wrote.
///
/// A key within the limit passes unchanged, with no allocation. A longer key is rejected
/// (`keyOverflow: reject`) with `.rejectedByPolicy`, or rewritten by the ``KeyHasher``
/// (`keyOverflow: hash`). An empty key is always `.invalidArgument`.
///
/// In strict mode (for tests) a key that would be hashed or rejected throws `.strictMode`, naming
/// the caller's file and line, so oversized keys fail tests before production sees one.
public struct KeyGuard: CacheMiddleware {
    /// The hasher for `keyOverflow: hash`.
    public let hasher: KeyHasher
    /// Whether every hash or rejection is an error naming the call site.
    public let strict: Bool

    /// Creates a key guard.
    /// - Parameters:
    ///   - hasher: the hasher (carries the deployment secret).
    ///   - strict: fail on any key that would be hashed or rejected (for tests).
    public init(hasher: KeyHasher = KeyHasher(), strict: Bool = false) {
        self.hasher = hasher
        self.strict = strict
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
        case .deleteReturningHead(let key, let headBytes):
            return try await next(.deleteReturningHead(try guarded(key, policy, context), headBytes: headBytes), context)
        case .expireReturningHead(let key, let ttl, let headBytes):
            return try await next(.expireReturningHead(try guarded(key, policy, context), ttl: ttl, headBytes: headBytes), context)
        case .throttle(let key, let parameters):
            return try await next(.throttle(try guarded(key, policy, context), parameters), context)
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
        }
    }

    /// The key as it should reach the backend under `policy`.
    /// - Throws: `.invalidArgument` (empty key), `.rejectedByPolicy` (too long, `reject`),
    ///   `.strictMode` (strict and too long).
    @inlinable
    public func guarded(_ key: CacheKey, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) -> CacheKey {
        let size = key.count
        if size <= policy.maxKeyBytes && size > 0 { return key }
        return try slowPath(key, policy, context)
    }

    @usableFromInline
    func slowPath(_ key: CacheKey, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) -> CacheKey {
        let route = context.route ?? "-"
        if key.count == 0 {
            throw CacheError(.invalidArgument, "empty key at \(context.callSite)", route: context.route)
        }
        if strict {
            Counter(label: "spillway_keys_strict_failures_total", dimensions: [("route", route)]).increment()
            throw CacheError(
                .strictMode,
                "strict mode: key of \(key.count) bytes exceeds maxKeyBytes \(policy.maxKeyBytes) at \(context.callSite) and would be \(policy.keyOverflow == .hash ? "hashed" : "rejected"); key starts \"\(key.preview())\"",
                route: context.route
            )
        }
        Recorder(label: "spillway_oversized_key_bytes", dimensions: [("route", route)]).record(key.count)
        switch policy.keyOverflow {
        case .reject:
            Counter(label: "spillway_keys_rejected_total", dimensions: [("route", route)]).increment()
            throw CacheError(
                .rejectedByPolicy,
                "key of \(key.count) bytes exceeds maxKeyBytes \(policy.maxKeyBytes) on route \(route); key starts \"\(key.preview())\"",
                route: context.route
            )
        case .hash:
            Counter(label: "spillway_keys_hashed_total", dimensions: [("route", route)]).increment()
            let hashed = hasher.hashed(key, maxKeyBytes: max(policy.maxKeyBytes, CachePolicy.minimumMaxKeyBytes))
            context.logger.trace("hashed oversized key", metadata: ["bytes": "\(key.count)", "key": "\(hashed.preview(limit: 96))"])
            return hashed
        }
    }
}
