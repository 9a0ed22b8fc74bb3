/// A chain built at run time, from an array of existential middleware.
///
/// Prefer the result builder on hot paths: this group pays for dynamic dispatch at each link.
public struct CacheMiddlewareGroup: CacheMiddleware {
    /// The middleware, in the order they run.
    public var middleware: [any CacheMiddleware]

    /// Creates a group.
    public init(_ middleware: [any CacheMiddleware] = []) { self.middleware = middleware }

    /// Appends a middleware at the end (closest to the backend).
    public mutating func add(_ m: any CacheMiddleware) { middleware.append(m) }

    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        try await run(index: middleware.startIndex, operation, context, next)
    }

    private func run(
        index: Int,
        _ operation: CacheOperation,
        _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        guard index < middleware.endIndex else { return try await next(operation, context) }
        return try await middleware[index].handle(operation, context: context) { (op: CacheOperation, ctx: CacheContext) async throws(CacheError) -> CacheReply in
            try await run(index: index + 1, op, ctx, next)
        }
    }

    /// Prepares every middleware it holds, in order.
    /// - Throws: the first error one of them throws.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        for m in middleware { try m.prepare(startup) }
    }
}
