import NIOCore
public import Spillway

/// The ``ValueSpill`` middleware of the proxy, with its blob store's type erased: the proxy runs
/// its values through the very middleware the library uses (the same envelope, escaping, pointer
/// binding, verification and counters), handing it the upstream's reply as its `next`.
public struct ProxySpill: Sendable {
    private let handler: @Sendable (CacheOperation, CacheContext, (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply) async throws(CacheError) -> CacheReply
    private let remove: @Sendable (BlobID) async -> Void
    /// The spill's counters (misses, corruption, foreign pointers).
    public let stats: SpillStats

    /// Wraps a spill middleware.
    public init<Store: BlobStore>(_ spill: ValueSpill<Store>) {
        self.handler = { operation, context, next async throws(CacheError) -> CacheReply in
            try await spill.handle(operation, context: context, next: next)
        }
        self.remove = { id in _ = try? await spill.store.delete(id) }
        self.stats = spill.stats
    }

    /// Runs `operation` through the spill, with `next` standing for the upstream.
    func handle(
        _ operation: CacheOperation, context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        try await handler(operation, context, next)
    }

    /// Deletes a blob whose pointer the upstream refused (best effort).
    func deleteBlob(_ id: BlobID) async { await remove(id) }

    /// Releases the blob of the pointer `head` (the first bytes of a value `key` held until a
    /// command replaced or removed it), as the spill releases it after its own delete: only a
    /// pointer of one of its stores written under `key`, never another key's.
    func release(head: ByteBuffer, key: CacheKey, context: CacheContext) async {
        var context = context
        context.capabilities = CacheCapabilities(returnsPreviousHead: true)
        _ = try? await handler(.delete(key), context) { _, _ throws(CacheError) -> CacheReply in .headed(true, previousHead: head) }
    }

    /// Moves the expiry of the blob of the pointer `head` that `key` still holds to its new
    /// TTL (plus the spill's grace), as the spill does after its own expire.
    func moveExpiry(head: ByteBuffer, key: CacheKey, ttl: Duration, context: CacheContext) async {
        var context = context
        context.capabilities = CacheCapabilities(returnsPreviousHead: true)
        _ = try? await handler(.expire(key, ttl: ttl), context) { _, _ throws(CacheError) -> CacheReply in .headed(true, previousHead: head) }
    }
}
