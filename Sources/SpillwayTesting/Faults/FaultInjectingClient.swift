public import Spillway

/// A ``CacheClient`` that runs every operation through a ``FaultInjector`` before the client it
/// wraps: for code that takes a client rather than a chain.
///
/// A client sees no ``CacheContext``, so route scopes match ``CacheRoute/current``.
public struct FaultInjectingClient<Base: CacheClient>: CacheClient {
    /// The wrapped client.
    public let base: Base
    /// The injector.
    public let injector: FaultInjector
    private let context = CacheContext()

    /// Wraps a client.
    public init(_ base: Base, injector: FaultInjector) {
        self.base = base
        self.injector = injector
    }

    /// Runs the operation through the injector, then the wrapped client.
    /// - Throws: the injected ``CacheError``, or the wrapped client's.
    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        let base = self.base
        return try await injector.handle(operation, context: context) { (op: CacheOperation, _: CacheContext) async throws(CacheError) -> CacheReply in
            try await base.execute(op)
        }
    }

    /// The wrapped client's capabilities.
    public var capabilities: CacheCapabilities { base.capabilities }

    /// The wrapped client's memory figures (no faults are injected here).
    /// - Throws: the wrapped client's ``CacheError``.
    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        try await base.memoryStats()
    }
}

extension FaultInjector {
    /// Wraps a client so that every operation passes through this injector first.
    public func wrapping<Base: CacheClient>(_ client: Base) -> FaultInjectingClient<Base> {
        FaultInjectingClient(client, injector: self)
    }
}
