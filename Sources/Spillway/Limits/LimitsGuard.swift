public import NIOCore

/// Enforces the write limits of the resolved policy: `maxValueBytes`, `requireTTL`, `maxTTL`,
/// and that every TTL is positive.
///
/// - A value above `maxValueBytes` throws `.rejectedByPolicy` (spilling, if configured, applies
///   only below that limit).
/// - A TTL of zero or less throws `.invalidArgument`; a missing TTL where one is required, or one
///   above `maxTTL`, throws `.rejectedByPolicy`. Nothing is clamped silently.
/// - Keep-TTL with no TTL (`KEEPTTL`; the persist driver's `set(expires: nil)`) is refused where
///   `requireTTL` holds: it could leave the key with no TTL at all.
public struct LimitsGuard: CacheMiddleware {
    /// Creates the guard.
    @inlinable public init() {}

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let policy = context.policy
        switch operation {
        case .set(_, let value, let options):
            try Self.checkValue(value.readableBytes, policy, context)
            if options.expiry == .keep {
                // Keep-TTL may leave the key with none (a new key, or one written without a
                // TTL), so it cannot satisfy `requireTTL`.
                if policy.requireTTL {
                    throw CacheError(
                        .rejectedByPolicy,
                        "a TTL is required for this write; keep-TTL without a TTL could leave the key with none, at \(context.callSite)",
                        route: context.route
                    )
                }
            } else {
                try Self.checkTTL(options.expiry.duration, policy, context)
            }
        case .mset(let pairs, let ttl), .msetReturningHeads(let pairs, let ttl, _):
            for pair in pairs { try Self.checkValue(pair.value.readableBytes, context.policies.resolve(route: context.route, key: pair.key), context) }
            try Self.checkTTL(ttl, policy, context)
        case .increment(_, _, let ttl):
            if let ttl { try Self.checkTTL(ttl, policy, context) }
        case .expire(_, let ttl), .expireReturningHead(_, let ttl, _):
            try Self.checkTTL(ttl, policy, context)
        case .get, .delete, .exists, .mget, .throttle, .deleteReturningHead:
            break
        }
        return try await next(operation, context)
    }

    /// The one `maxValueBytes` check: this guard's, and ``ValueSpill``'s before it touches the
    /// blob store (so a chain without this guard still never spills an oversized value).
    /// - Throws: `.rejectedByPolicy` naming the size, the limit and the call site.
    @inlinable
    static func checkValue(_ size: Int, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) {
        if size > policy.maxValueBytes {
            throw CacheError(
                .rejectedByPolicy,
                "value of \(size) bytes exceeds maxValueBytes \(policy.maxValueBytes) at \(context.callSite)",
                route: context.route
            )
        }
    }

    @inlinable
    static func checkTTL(_ ttl: Duration?, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) {
        guard let ttl else {
            if policy.requireTTL {
                throw CacheError(.rejectedByPolicy, "a TTL is required for this write at \(context.callSite)", route: context.route)
            }
            return
        }
        if ttl <= .zero {
            throw CacheError(.invalidArgument, "TTL must be positive, got \(ttl) at \(context.callSite)", route: context.route)
        }
        if let maxTTL = policy.maxTTL, ttl > maxTTL {
            throw CacheError(.rejectedByPolicy, "TTL \(ttl) exceeds maxTTL \(maxTTL) at \(context.callSite)", route: context.route)
        }
    }
}
