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
}
