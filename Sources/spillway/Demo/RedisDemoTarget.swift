import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization

/// The demo on a real Redis: every run starts from an empty database (`FLUSHDB SYNC`) with
/// `maxmemory` set to the empty database's `used_memory` plus the demo's budget and
/// `maxmemory-policy noeviction`, so the unguarded run hits Redis's own OOM. A run's memory is
/// `used_memory` (from `INFO memory`) after the run minus before it. The server's previous
/// `maxmemory` and policy are restored at the end, and the database is left empty.
///
/// With no URL the target starts a throwaway `redis-server` on 127.0.0.1 and a free port, and
/// stops it at the end.
final class RedisDemoTarget: DemoTarget {
    let client: RedisClient
    let description: String
    var warmsUp: Bool { true }

    private let server: RedisServer?
    private let saved: (maxMemory: String, policy: String)
    private let run = Mutex((baseline: 0, limit: 0))

    private init(client: RedisClient, server: RedisServer?, saved: (maxMemory: String, policy: String)) {
        self.client = client
        self.server = server
        self.saved = saved
        let c = client.configuration
        description = "Redis \(c.host):\(c.port)/\(c.database)"
    }

    /// Connects to the server at `url` (`redis://…` or `rediss://…`).
    ///
    /// The demo flushes the database: when it holds keys, this refuses unless `allowFlush`.
    /// - Throws: `CacheError` when the URL is malformed or the server cannot be reached;
    ///   ``RedisDemoError`` when the database is not empty and `allowFlush` is false.
    static func connect(url: String, allowFlush: Bool) async throws -> RedisDemoTarget {
        var configuration = try RedisConfiguration(url: url)
        // Replies to a full replay can queue behind many 10 KB writes on a slow machine.
        configuration.commandTimeout = max(configuration.commandTimeout, .seconds(30))
        return try await make(try RedisClient(configuration: configuration), server: nil, allowFlush: allowFlush)
    }

    /// Starts a throwaway `redis-server` on 127.0.0.1 and a free port and connects to it.
    /// - Throws: `RedisServerError` when `redis-server` is missing or cannot start.
    static func throwaway() async throws -> RedisDemoTarget {
        let server = try await RedisServer.start()
        do {
            let client = try server.makeClient { $0.commandTimeout = .seconds(30) }
            return try await make(client, server: server, allowFlush: true)
        } catch {
            await server.stop()
            throw error
        }
    }

    private static func make(_ client: RedisClient, server: RedisServer?, allowFlush: Bool) async throws -> RedisDemoTarget {
        do {
            let keys = try await client.send("DBSIZE").int64 ?? 0
            if keys > 0 && !allowFlush {
                throw RedisDemoError(
                    "database \(client.configuration.database) of \(client.configuration.host):\(client.configuration.port) holds \(keys) keys; "
                        + "the demo empties it (FLUSHDB) before each run: pass --flush to allow that, or pick an empty database (redis://host:port/15)"
                )
            }
            let saved = (
                maxMemory: try await configValue(client, "maxmemory"),
                policy: try await configValue(client, "maxmemory-policy")
            )
            _ = try await client.send("CONFIG", "SET", "maxmemory-policy", "noeviction")
            return RedisDemoTarget(client: client, server: server, saved: saved)
        } catch {
            await client.close()
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

    func freshCache(limit: Int) async throws -> RedisClient {
        _ = try await client.send("FLUSHDB", "SYNC")
        let baseline = try await client.memoryStats().usedBytes
        _ = try await client.send("CONFIG", "SET", "maxmemory", baseline + limit)
        run.withLock { $0 = (baseline, limit) }
        return client
    }

    func memoryStats(_ client: RedisClient) async throws -> CacheMemoryStats {
        let stats = try await client.memoryStats()
        let (baseline, limit) = run.withLock { ($0.baseline, $0.limit) }
        return CacheMemoryStats(usedBytes: max(0, stats.usedBytes - baseline), maxBytes: limit, keyCount: stats.keyCount)
    }

    func finish() async {
        _ = try? await client.send("FLUSHDB", "SYNC")
        _ = try? await client.send("CONFIG", "SET", "maxmemory", saved.maxMemory)
        _ = try? await client.send("CONFIG", "SET", "maxmemory-policy", saved.policy)
        await client.close()
        await server?.stop()
    }
}

/// The Redis demo cannot go ahead (a database that holds keys, an unexpected reply).
struct RedisDemoError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
