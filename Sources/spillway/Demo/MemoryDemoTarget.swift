import Spillway

/// The demo on the embedded ``MemoryCache``: a new cache for each run.
struct MemoryDemoTarget: DemoTarget {
    var description: String { "MemoryCache" }
    var warmsUp: Bool { false }

    func freshCache(limit: Int) async throws -> MemoryCache<ContinuousClock> {
        MemoryCache(maxMemory: limit, policy: .noEviction)
    }

    func memoryStats(_ client: MemoryCache<ContinuousClock>) async throws -> CacheMemoryStats {
        try await client.memoryStats()
    }

    func finish() async {}
}
