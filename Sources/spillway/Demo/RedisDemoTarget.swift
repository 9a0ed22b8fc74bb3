import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization

/// The demo on a real Redis `redis-server`.
typealias RedisServerDemoTarget = RedisDemoTarget<RedisClient>

/// The demo on a Redis Cluster (`--backend redis-cluster://host:port,…`), on every master.
typealias RedisClusterDemoTarget = RedisDemoTarget<RedisClusterClient>

/// The demo on real Redis servers: one `redis-server`, or every master of a Redis Cluster. Every
/// run starts with each server emptied (`FLUSHDB SYNC` on a server, `FLUSHALL SYNC` on a
/// cluster's masters) and its `maxmemory` set to its own empty `used_memory` plus its share of
/// the demo's budget (all of it on one server, an equal share per master), with
/// `maxmemory-policy noeviction`, so the unguarded run hits Redis's own OOM. A run's memory is
/// the servers' `used_memory` growth (from `INFO memory`) added up. The servers' previous
/// `maxmemory` and policy are restored at the end, and they are left empty.
///
/// With no URL the single-server target starts a throwaway `redis-server` on 127.0.0.1 and a
/// free port, and stops it at the end.
final class RedisDemoTarget<Client: CacheClient>: DemoTarget {
    let client: Client
    let description: String
    var warmsUp: Bool { true }

    /// The servers whose memory the demo sets and measures.
    private let servers: [RedisClient]
    /// `FLUSHDB` (one server: its database only) or `FLUSHALL` (a cluster has database 0 only).
    private let flushCommand: String
    private let saved: [(maxMemory: String, policy: String)]
    private let closeClient: @Sendable () async -> Void
    private let throwawayServer: RedisServer?
    private let run = Mutex((baselines: [Int](), limit: 0))

    private init(
        client: Client, description: String, servers: [RedisClient], flushCommand: String, saved: [(maxMemory: String, policy: String)],
        closeClient: @escaping @Sendable () async -> Void, throwawayServer: RedisServer?
    ) {
        self.client = client
        self.description = description
        self.servers = servers
        self.flushCommand = flushCommand
        self.saved = saved
        self.closeClient = closeClient
        self.throwawayServer = throwawayServer
    }

    /// Checks that every server is empty (unless `allowFlush`), saves its settings and sets
    /// `noeviction`; closes the client when that fails.
    /// - Throws: ``RedisDemoError`` (with `refusal`'s text) when a server holds keys and
    ///   `allowFlush` is false; the servers' errors.
    private static func make(
        _ client: Client, description: String, servers: [RedisClient], flushCommand: String, allowFlush: Bool,
        closeClient: @escaping @Sendable () async -> Void, throwawayServer: RedisServer? = nil,
        refusal: (_ server: Int, _ keys: Int64) -> String
    ) async throws -> RedisDemoTarget {
        do {
            var saved: [(maxMemory: String, policy: String)] = []
            for (i, server) in servers.enumerated() {
                let keys = try await server.send("DBSIZE").int64 ?? 0
                if keys > 0 && !allowFlush { throw RedisDemoError(refusal(i, keys)) }
                saved.append((try await configValue(server, "maxmemory"), try await configValue(server, "maxmemory-policy")))
            }
            for server in servers { _ = try await server.send("CONFIG", "SET", "maxmemory-policy", "noeviction") }
            return RedisDemoTarget(
                client: client, description: description, servers: servers, flushCommand: flushCommand, saved: saved,
                closeClient: closeClient, throwawayServer: throwawayServer
            )
        } catch {
            await closeClient()
            throw error
        }
    }

    /// One parameter's value from `CONFIG GET` (a map in RESP3, a flat array in RESP2).
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

    func freshCache(limit: Int) async throws -> Client {
        var baselines: [Int] = []
        let share = limit / max(1, servers.count)
        for server in servers {
            _ = try await server.send(flushCommand, "SYNC")
            let baseline = try await server.memoryStats().usedBytes
            _ = try await server.send("CONFIG", "SET", "maxmemory", baseline + share)
            baselines.append(baseline)
        }
        run.withLock { $0 = (baselines, limit) }
        return client
    }

    func memoryStats(_ client: Client) async throws -> CacheMemoryStats {
        let (baselines, limit) = run.withLock { ($0.baselines, $0.limit) }
        var used = 0
        var keys = 0
        for (server, baseline) in zip(servers, baselines) {
            let stats = try await server.memoryStats()
            used += max(0, stats.usedBytes - baseline)
            keys += stats.keyCount
        }
        return CacheMemoryStats(usedBytes: used, maxBytes: limit, keyCount: keys)
    }

    func finish() async {
        for (server, settings) in zip(servers, saved) {
            _ = try? await server.send(flushCommand, "SYNC")
            _ = try? await server.send("CONFIG", "SET", "maxmemory", settings.maxMemory)
            _ = try? await server.send("CONFIG", "SET", "maxmemory-policy", settings.policy)
        }
        await closeClient()
        await throwawayServer?.stop()
    }
}

extension RedisDemoTarget where Client == RedisClient {
    /// Connects to the server at `url` (`redis://…` or `rediss://…`).
    ///
    /// The demo flushes the database: when it holds keys, this refuses unless `allowFlush`.
    /// - Throws: `CacheError` when the URL is malformed or the server cannot be reached;
    ///   ``RedisDemoError`` when the database is not empty and `allowFlush` is false.
    static func connect(url: String, allowFlush: Bool) async throws -> RedisServerDemoTarget {
        var configuration = try RedisConfiguration(url: url)
        // Replies to a full replay can queue behind many 10 KB writes on a slow machine.
        configuration.commandTimeout = max(configuration.commandTimeout, .seconds(30))
        return try await server(try RedisClient(configuration: configuration), throwaway: nil, allowFlush: allowFlush)
    }

    /// Starts a throwaway `redis-server` on 127.0.0.1 and a free port and connects to it.
    /// - Throws: `RedisServerError` when `redis-server` is missing or cannot start.
    static func throwaway() async throws -> RedisServerDemoTarget {
        let server = try await RedisServer.start()
        do {
            let client = try server.makeClient { $0.commandTimeout = .seconds(30) }
            return try await self.server(client, throwaway: server, allowFlush: true)
        } catch {
            await server.stop()
            throw error
        }
    }

    private static func server(_ client: RedisClient, throwaway: RedisServer?, allowFlush: Bool) async throws -> RedisServerDemoTarget {
        let c = client.configuration
        return try await make(
            client, description: "Redis \(c.host):\(c.port)/\(c.database)", servers: [client], flushCommand: "FLUSHDB", allowFlush: allowFlush,
            closeClient: { await client.close() }, throwawayServer: throwaway
        ) { _, keys in
            "database \(c.database) of \(c.host):\(c.port) holds \(keys) keys; "
                + "the demo empties it (FLUSHDB) before each run: pass --flush to allow that, or pick an empty database (redis://host:port/15)"
        }
    }
}

extension RedisDemoTarget where Client == RedisClusterClient {
    /// Connects to the cluster at `url` (`redis-cluster://…`). Refuses a cluster holding keys
    /// unless `allowFlush`.
    /// - Throws: `CacheError` when the URL is malformed or no node answers; ``RedisDemoError``
    ///   when a master holds keys and `allowFlush` is false.
    static func connect(url: String, allowFlush: Bool) async throws -> RedisClusterDemoTarget {
        var configuration = try RedisClusterConfiguration(url: url)
        configuration.node.commandTimeout = max(configuration.node.commandTimeout, .seconds(30))
        let cluster = try RedisClusterClient(configuration: configuration)
        let addresses: [RedisClusterNodeAddress]
        var masters: [RedisClient] = []
        do {
            addresses = try await cluster.masters()
            for address in addresses { masters.append(try cluster.node(address)) }
        } catch {
            await cluster.close()
            throw error
        }
        return try await make(
            cluster, description: "Redis Cluster (\(addresses.count) masters: \(addresses.map(\.description).joined(separator: ", ")))",
            servers: masters, flushCommand: "FLUSHALL", allowFlush: allowFlush, closeClient: { await cluster.close() }
        ) { i, keys in
            "the cluster's master \(addresses[i]) holds \(keys) keys; the demo empties every master (FLUSHALL) before each run: pass --flush to allow that"
        }
    }
}

/// The Redis demo cannot go ahead (a database that holds keys, an unexpected reply).
struct RedisDemoError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
