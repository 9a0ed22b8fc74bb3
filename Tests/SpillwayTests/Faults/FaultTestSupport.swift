import NIOCore
import Spillway
import SpillwayTesting

/// A cache over a fresh MemoryCache with a fault injector last in the chain, all on one manual clock.
struct FaultedMemory {
    let clock = ManualClock()
    let faults: FaultInjector
    let backend: MemoryCache<ManualClock>
    let cache: GuardedCache<MemoryCache<ManualClock>, FaultInjector>

    init(seed: UInt64 = 1, policies: PolicyTable = PolicyTable(defaults: CachePolicy(onOOM: .fail))) {
        let faults = FaultInjector(seed: seed, clock: clock)
        let backend = MemoryCache(clock: clock)
        self.faults = faults
        self.backend = backend
        self.cache = GuardedCache(client: backend, policies: policies) { faults }
    }

    /// Reads a key straight from the backend, past the injector.
    func stored(_ key: CacheKey) async throws -> ByteBuffer? {
        guard case .value(let v) = try await backend.execute(.get(key)) else { return nil }
        return v
    }
}

extension ByteBuffer {
    /// The buffer's bytes as a string, for assertions.
    var text: String { String(buffer: self) }
}

/// Runs `body` and returns the typed error it throws, or `nil` when it does not throw.
func cacheError<T>(_ body: () async throws(CacheError) -> T) async -> CacheError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}
