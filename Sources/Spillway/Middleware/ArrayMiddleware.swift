/// Middleware of one type, run in order: the result of a `for` loop in a
/// ``CacheMiddlewareBuilder`` block. An empty array passes every operation on.
public struct ArrayMiddleware<Element: CacheMiddleware>: CacheMiddleware {
    /// The middleware, first to run first.
    public let elements: [Element]

    /// Wraps middleware to run in order.
    @inlinable
    public init(_ elements: [Element]) { self.elements = elements }

    /// Runs the elements in order, the last one calling `next`.
    /// - Throws: whatever an element or `next` throws.
    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        try await run(from: elements.startIndex, operation, context, next)
    }

    @inlinable
    func run(
        from index: Int, _ operation: CacheOperation, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        guard index < elements.endIndex else { return try await next(operation, context) }
        return try await elements[index].handle(operation, context: context) { (op: CacheOperation, ctx: CacheContext) async throws(CacheError) -> CacheReply in
            try await run(from: index + 1, op, ctx, next)
        }
    }

    /// Prepares every middleware it holds, in order.
    /// - Throws: the first error one of them throws.
    public func prepare(_ startup: CacheStartup) throws(CacheError) {
        for element in elements { try element.prepare(startup) }
    }
}
