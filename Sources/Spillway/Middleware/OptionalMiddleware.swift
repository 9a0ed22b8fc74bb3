/// A middleware that may be absent: the result of an `if` without `else` in a
/// ``CacheMiddlewareBuilder`` block.
public struct OptionalMiddleware<Wrapped: CacheMiddleware>: CacheMiddleware {
    @usableFromInline let wrapped: Wrapped?

    /// Wraps an optional middleware.
    @inlinable
    public init(_ wrapped: Wrapped?) { self.wrapped = wrapped }

    /// Runs the wrapped middleware, or passes the operation on when there is none.
    /// - Throws: whatever the wrapped middleware or `next` throws.
    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if let wrapped {
            return try await wrapped.handle(operation, context: context, next: next)
        }
        return try await next(operation, context)
    }

    /// Prepares every middleware it holds, in order.
    /// - Throws: the first error one of them throws.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        try wrapped?.prepare(startup)
    }
}
