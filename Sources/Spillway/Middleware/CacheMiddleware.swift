/// A link in the chain around a cache client.
///
/// Modelled on Hummingbird's `MiddlewareProtocol`: a middleware sees each operation on the way
/// down and its reply on the way back up, and calls `next` to continue (or answers itself).
/// Nothing reaches around the chain.
public protocol CacheMiddleware: Sendable {
    /// Handles one operation.
    /// - Parameters:
    ///   - operation: the operation, possibly rewritten by earlier middleware.
    ///   - context: the per-operation context, with the resolved policy.
    ///   - next: the rest of the chain, ending at the backend.
    /// - Throws: ``CacheError``.
    func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply

    /// Checks the middleware's configuration once, when a ``GuardedCache`` is built. The default
    /// does nothing; ``KeyGuard`` reports the public default key secret here.
    /// - Throws: ``CacheError`` when the middleware must not run with this configuration; the
    ///   cache then refuses to start (``GuardedCache/checkStartup()`` and every operation throw it).
    func prepare(_ startup: CacheStartup) throws(CacheError)
}

extension CacheMiddleware {
    /// Does nothing: most middleware have nothing to check at start.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {}
}

/// A middleware that does nothing; the empty chain.
public struct PassthroughMiddleware: CacheMiddleware {
    /// Creates the empty middleware.
    @inlinable public init() {}

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        try await next(operation, context)
    }
}

/// Two middleware in a row: `first` runs, and its `next` is `second`. The result builder nests
/// these, so a whole chain is one concrete generic type with nothing type-erased.
public struct _CacheMiddleware2<First: CacheMiddleware, Second: CacheMiddleware>: CacheMiddleware {
    @usableFromInline let first: First
    @usableFromInline let second: Second

    /// Composes two middleware.
    @inlinable
    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        try await first.handle(operation, context: context) { (op: CacheOperation, ctx: CacheContext) async throws(CacheError) -> CacheReply in
            try await second.handle(op, context: ctx, next: next)
        }
    }

    /// Prepares both, first then second.
    /// - Throws: the first error either throws.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        try first.prepare(startup)
        try second.prepare(startup)
    }
}
