import Spillway
import SpillwayTesting

/// The backends that shared test bodies run against. Every suite that claims a behaviour for
/// "each backend" takes `arguments: TestBackend.allCases`.
enum TestBackend: String, CaseIterable, CustomStringConvertible, Sendable {
    /// The embedded `MemoryCache`.
    case memory
    // `redis` (a real redis-server started by the test) is added by the Redis client work.

    var description: String { rawValue }

    /// Runs `body` with a fresh client of this kind, configured with the given memory limit.
    func withClient<R>(
        maxMemory: Int? = nil,
        policy: MaxMemoryPolicy = .noEviction,
        _ body: (any CacheClient) async throws -> R
    ) async throws -> R {
        switch self {
        case .memory:
            return try await body(MemoryCache(maxMemory: maxMemory, policy: policy, clock: ManualClock()))
        }
    }
}
