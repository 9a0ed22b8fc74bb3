/// One of two middleware, chosen when the chain is built: the result of an `if`/`else` (or a
/// `switch`) in a ``CacheMiddlewareBuilder`` block.
public enum EitherMiddleware<First: CacheMiddleware, Second: CacheMiddleware>: CacheMiddleware {
    /// The `if` branch (or an earlier `switch` case).
    case first(First)
    /// The `else` branch (or a later `switch` case).
    case second(Second)

    /// Runs the chosen branch.
    /// - Throws: whatever the chosen middleware or `next` throws.
    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch self {
        case .first(let m): try await m.handle(operation, context: context, next: next)
        case .second(let m): try await m.handle(operation, context: context, next: next)
        }
    }

    /// Prepares the chosen branch.
    /// - Throws: what the chosen middleware throws.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        switch self {
        case .first(let m): try m.prepare(startup)
        case .second(let m): try m.prepare(startup)
        }
    }
}
