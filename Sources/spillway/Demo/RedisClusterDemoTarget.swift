import Spillway
import SpillwayRedis
import Synchronization

/// The demo on a Redis Cluster (`--backend redis-cluster://host:port,…`): as
/// ``RedisDemoTarget``, on every master. Each run starts with every master emptied
/// (`FLUSHALL SYNC`) and its `maxmemory` set to its own baseline plus an equal share of the demo's
/// budget, `noeviction`; a run's memory is the masters' `used_memory` growth added up. The
/// masters' previous settings are restored at the end and they are left empty.
final class RedisClusterDemoTarget: DemoTarget {
    let client: RedisClusterClient
    let description: String
    var warmsUp: Bool { true }

    private let masters: [RedisClient]
    private let saved: [(maxMemory: String, policy: String)]
    private let run = Mutex((baselines: [Int](), limit: 0))

    private init(client: RedisClusterClient, masters: [RedisClusterNodeAddress], clients: [RedisClient], saved: [(maxMemory: String, policy: String)]) {
        self.client = client
        self.masters = clients
        self.saved = saved
        description = "Redis Cluster (\(masters.count) masters: \(masters.map(\.description).joined(separator: ", ")))"
    }

    /// Connects to the cluster at `url` (`redis-cluster://…`). Refuses a cluster holding keys
    /// unless `allowFlush`.
    /// - Throws: `CacheError` when the URL is malformed or no node answers; ``RedisDemoError``
    ///   when a master holds keys and `allowFlush` is false.
    static func connect(url: String, allowFlush: Bool) async throws -> RedisClusterDemoTarget {
        var configuration = try RedisClusterConfiguration(url: url)
        configuration.node.commandTimeout = max(configuration.node.commandTimeout, .seconds(30))
        let client = try RedisClusterClient(configuration: configuration)
        do {
            let addresses = try await client.masters()
            var clients: [RedisClient] = []
            var saved: [(maxMemory: String, policy: String)] = []
            for address in addresses {
                let node = try client.node(address)
                let keys = try await node.send("DBSIZE").int64 ?? 0
                if keys > 0 && !allowFlush {
                    throw RedisDemoError("the cluster's master \(address) holds \(keys) keys; the demo empties every master (FLUSHALL) before each run: pass --flush to allow that")
                }
                clients.append(node)
                saved.append((try await configValue(node, "maxmemory"), try await configValue(node, "maxmemory-policy")))
            }
            for node in clients { _ = try await node.send("CONFIG", "SET", "maxmemory-policy", "noeviction") }
            return RedisClusterDemoTarget(client: client, masters: addresses, clients: clients, saved: saved)
        } catch {
            await client.close()
            throw error
        }
    }

    private static func configValue(_ client: RedisClient, _ name: String) async throws -> String {
        let reply = try await client.send("CONFIG", "GET", name)
        let value: RESPValue?
        switch reply {
        case .map(let entries): value = entries.first?.value
        case .array(let elements): value = elements.count >= 2 ? elements[1] : nil
        default: value = nil
        }
        guard let text = value?.string else { throw RedisDemoError("unexpected reply to CONFIG GET \(name): \(reply)") }
        return text
    }

    func freshCache(limit: Int) async throws -> RedisClusterClient {
        var baselines: [Int] = []
        let share = limit / max(1, masters.count)
        for node in masters {
            _ = try await node.send("FLUSHALL", "SYNC")
            let baseline = try await node.memoryStats().usedBytes
            _ = try await node.send("CONFIG", "SET", "maxmemory", baseline + share)
            baselines.append(baseline)
        }
        run.withLock { $0 = (baselines, limit) }
        return client
    }

    func memoryStats(_ client: RedisClusterClient) async throws -> CacheMemoryStats {
        let (baselines, limit) = run.withLock { ($0.baselines, $0.limit) }
        var used = 0
        var keys = 0
        for (node, baseline) in zip(masters, baselines) {
            let stats = try await node.memoryStats()
            used += max(0, stats.usedBytes - baseline)
            keys += stats.keyCount
        }
        return CacheMemoryStats(usedBytes: used, maxBytes: limit, keyCount: keys)
    }

    func finish() async {
        for (node, settings) in zip(masters, saved) {
            _ = try? await node.send("FLUSHALL", "SYNC")
            _ = try? await node.send("CONFIG", "SET", "maxmemory", settings.maxMemory)
            _ = try? await node.send("CONFIG", "SET", "maxmemory-policy", settings.policy)
        }
        await client.close()
    }
}
