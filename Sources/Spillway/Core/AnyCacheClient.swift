/// A type-erased ``CacheClient``, for backends chosen at run time (a URL, a test parameter).
///
/// Wrapping costs one dynamic dispatch per operation; use the concrete type where it is known.
public struct AnyCacheClient: CacheClient {
    /// The wrapped client.
    public let base: any CacheClient

    /// Wraps a client.
    public init(_ base: any CacheClient) { self.base = base }

    public var capabilities: CacheCapabilities { base.capabilities }

    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        try await base.execute(operation)
    }

    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        try await base.memoryStats()
    }
}
