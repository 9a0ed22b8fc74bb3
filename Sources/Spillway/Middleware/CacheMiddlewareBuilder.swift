/// Composes a statically typed middleware chain, in the order written (top runs first).
///
/// ```swift
/// let chain = CacheMiddlewareChain {
///     KeyGuard()
///     if spill { ValueSpill(store: blobs) }
///     if strict { LimitsGuard() } else { PassthroughMiddleware() }
///     for name in routes { Audit(name) }
///     Degrade()
/// }
/// ```
///
/// `if` gives an ``OptionalMiddleware``, `if`/`else` (and `switch`) an ``EitherMiddleware``, and
/// `for` an ``ArrayMiddleware``: the whole chain stays one concrete type, nothing type-erased.
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

    /// The `if` branch of an `if`/`else` (or an earlier case of a `switch`).
    @inlinable
    public static func buildEither<First: CacheMiddleware, Second: CacheMiddleware>(first component: First) -> EitherMiddleware<First, Second> {
        .first(component)
    }

    /// The `else` branch of an `if`/`else` (or a later case of a `switch`).
    @inlinable
    public static func buildEither<First: CacheMiddleware, Second: CacheMiddleware>(second component: Second) -> EitherMiddleware<First, Second> {
        .second(component)
    }

    /// The middleware of a `for` loop, run in the loop's order.
    @inlinable
    public static func buildArray<M: CacheMiddleware>(_ components: [M]) -> ArrayMiddleware<M> {
        ArrayMiddleware(components)
    }
}

/// Builds a chain with ``CacheMiddlewareBuilder``.
/// - Returns: the composed middleware.
@inlinable
public func CacheMiddlewareChain<M: CacheMiddleware>(@CacheMiddlewareBuilder _ build: () -> M) -> M {
    build()
}
