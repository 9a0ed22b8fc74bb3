/// Composes a statically typed middleware chain, in the order written (top runs first).
///
/// ```swift
/// let chain = CacheMiddlewareChain {
///     KeyGuard()
///     LimitsGuard()
/// }
/// ```
@resultBuilder
public enum CacheMiddlewareBuilder {
    /// The empty chain.
    @inlinable
    public static func buildBlock() -> PassthroughMiddleware { PassthroughMiddleware() }

    /// The first middleware.
    @inlinable
    public static func buildPartialBlock<M: CacheMiddleware>(first: M) -> M { first }

    /// Appends a middleware after the ones so far.
    @inlinable
    public static func buildPartialBlock<M0: CacheMiddleware, M1: CacheMiddleware>(accumulated: M0, next: M1) -> _CacheMiddleware2<M0, M1> {
        _CacheMiddleware2(accumulated, next)
    }

    /// An optional middleware (`if` without `else`).
    @inlinable
    public static func buildOptional<M: CacheMiddleware>(_ component: M?) -> OptionalMiddleware<M> {
        OptionalMiddleware(component)
    }
}

/// A middleware that may be absent.
public struct OptionalMiddleware<Wrapped: CacheMiddleware>: CacheMiddleware {
    @usableFromInline let wrapped: Wrapped?

    /// Wraps an optional middleware.
    @inlinable
    public init(_ wrapped: Wrapped?) { self.wrapped = wrapped }

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
}

/// Builds a chain with ``CacheMiddlewareBuilder``.
/// - Returns: the composed middleware.
@inlinable
public func CacheMiddlewareChain<M: CacheMiddleware>(@CacheMiddlewareBuilder _ build: () -> M) -> M {
    build()
}
