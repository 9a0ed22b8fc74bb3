import Spillway
import SpillwayRedis
import SpillwayTesting

/// The backends that shared test bodies run against. Every suite that claims a behaviour for
/// "each backend" takes `arguments: TestBackend.allCases`.
enum TestBackend: String, CaseIterable, CustomStringConvertible, Sendable {
    /// The embedded `MemoryCache`.
    case memory
    /// A real `redis-server`, started for the test on 127.0.0.1 and a free port (fails loudly
    /// when it cannot start).
    case redis
    /// A real Redis Cluster (3 masters, 3 replicas) through ``RedisClusterClient``: the suite's
    /// shared cluster (its suite carries `.sharedRedisCluster`), emptied before each test, tests
    /// taking turns. Not in ``allCases``: suites opt in with ``withCluster``.
    case redisCluster = "redis-cluster"

    var description: String { rawValue }

    /// The single-process backends: what most suites run against.
    static var allCases: [TestBackend] { [.memory, .redis] }

    /// ``allCases`` and the Redis Cluster, for the contract suites (which carry
    /// `.sharedRedisCluster`).
    static var withCluster: [TestBackend] { allCases + [.redisCluster] }

    /// Runs `body` with a fresh client of this kind, configured with the given memory limit.
    ///
    /// On Redis, `maxMemory` counts from the server's own baseline: the limit is set to
    /// `used_memory` of the empty server plus `maxMemory`, so "fill until refused" tests fill
    /// about as much data on both backends (Redis's accounting differs in detail).
    func withClient<R>(
        maxMemory: Int? = nil,
        policy: MaxMemoryPolicy = .noEviction,
        _ body: (any CacheClient) async throws -> R
    ) async throws -> R {
        switch self {
        case .memory:
            return try await body(MemoryCache(maxMemory: maxMemory, policy: policy, clock: ManualClock()))
        case .redis:
            let options = RedisServer.Options(maxMemoryPolicy: policy, extraArguments: ["--enable-debug-command", "local"])
            return try await RedisServer.withRedisServer(options) { server in
                // One connection: every new connection moves Redis's `used_memory` by ~20 KB,
                // which would swamp the small budgets these tests set.
                let client = try server.makeClient { $0.maxConnections = 1 }
                do {
                    if let maxMemory {
                        // Keep Redis's accounting still while a test fills memory: no reply
                        // buffer shrinking (~15 KB) behind the test's back; and the first
                        // CONFIG SET itself allocates, so measure the baseline after one.
                        _ = try await client.send("DEBUG", "REPLYBUFFER", "RESIZING", 0)
                        _ = try await client.send("CONFIG", "SET", "maxmemory", server.options.maxMemory)
                        let baseline = try await client.memoryStats().usedBytes
                        _ = try await client.send("CONFIG", "SET", "maxmemory", baseline + maxMemory)
                    }
                    let result = try await body(client)
                    await client.close()
                    return result
                } catch {
                    await client.close()
                    throw error
                }
            }
        case .redisCluster:
            return try await RedisClusterFixture.exclusive { cluster in
                let masters = try await cluster.roles().filter { $0.isMaster && !$0.failing }.compactMap { cluster.server(at: $0.address) }
                if let maxMemory {
                    // Each master's limit counts from its own baseline, as on a single server
                    // (without the replication buffers, which maxmemory does not count).
                    for server in masters {
                        try await cluster.withNodeClient(server) { node in
                            _ = try await node.send("DEBUG", "REPLYBUFFER", "RESIZING", 0)
                            _ = try await node.send("CONFIG", "SET", "maxmemory-policy", policy.rawValue)
                            let info = try await node.send("INFO", "memory").string ?? ""
                            func field(_ name: String) -> Int {
                                info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") }
                                    .flatMap { Int($0.dropFirst(name.count + 1)) } ?? 0
                            }
                            let baseline = field("used_memory") - field("mem_not_counted_for_evict")
                            _ = try await node.send("CONFIG", "SET", "maxmemory", baseline + maxMemory)
                        }
                    }
                }
                let client = try cluster.makeClient { $0.node.maxConnections = 1 }
                func restore() async throws {
                    await client.close()
                    guard maxMemory != nil else { return }
                    for server in masters {
                        try await cluster.withNodeClient(server) { node in
                            _ = try await node.send("CONFIG", "SET", "maxmemory", cluster.options.node.maxMemory)
                            _ = try await node.send("CONFIG", "SET", "maxmemory-policy", cluster.options.node.maxMemoryPolicy.rawValue)
                        }
                    }
                }
                do {
                    let result = try await body(client)
                    try await restore()
                    return result
                } catch {
                    try? await restore()
                    throw error
                }
            }
        }
    }
}
