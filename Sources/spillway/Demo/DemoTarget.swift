import Spillway

/// Where the demo's runs execute. Each run starts on an empty cache with the same data budget,
/// and reports the memory the run added.
protocol DemoTarget: Sendable {
    associatedtype Client: CacheClient

    /// A short description for the report, without credentials ("memory", "redis 127.0.0.1:6379/0").
    var description: String { get }

    /// Whether a run should be preceded by a small warm-up run of the same path (then a reset),
    /// so that one-time allocations on the server (connections, buffers, script cache) do not
    /// count as the run's memory.
    var warmsUp: Bool { get }

    /// An empty cache with room for `limit` bytes of data, refusing writes beyond (noeviction).
    /// - Throws: when the cache cannot be reset or configured.
    func freshCache(limit: Int) async throws -> Client

    /// The memory used since the last ``freshCache(limit:)``, and the keys now stored.
    /// - Throws: when the cache cannot be asked.
    func memoryStats(_ client: Client) async throws -> CacheMemoryStats

    /// Undoes what the runs changed on the target (a server's settings). Called once, at the end.
    func finish() async
}
