import Foundation
import Testing
import Spillway
import SpillwayRedis
import SpillwayTesting
@testable import spillway

@Suite("spillway demo --backend redis, on a real redis-server")
struct RedisDemoTests {
    /// The demo's default workload (2000 requests, 10 KB payloads, 8 MiB of room).
    static let replay = IncidentReplay(tasks: 2000, keyBytes: 10_240, concurrency: 16, clients: 50, shape: .payloadInKey)
    static let limit = 8 << 20

    @Test("unguarded hits Redis's real OOM; guarded fails no request and uses at most 2% of the bytes per task; settings restored")
    func replayOnRedis() async throws {
        try await RedisServer.withRedisServer(RedisServer.Options(maxMemory: 64 << 20, maxMemoryPolicy: .allKeysLRU)) { server in
            let target = try await RedisServerDemoTarget.connect(url: server.url, allowFlush: false)
            let report = try await DemoCommand.report(on: target, limit: Self.limit, replay: Self.replay)

            #expect(report.config.backend == "Redis 127.0.0.1:\(server.port)/0")
            // Unguarded: Redis refused writes with its own OOM. (Which writes: near the limit Redis
            // still takes a small throttle write while a 10 KB key's query buffer tips it over, so
            // the split between failed requests and failed tasks varies from run to run.)
            #expect(report.unguarded.failuresByCode["outOfMemory", default: 0] > 0)
            #expect(report.unguarded.failedRequests + report.unguarded.failedTasks == report.unguarded.failuresByCode["outOfMemory"])
            #expect(report.unguarded.completedTasks < Self.replay.tasks)
            // The memory figures are used_memory deltas within the run's budget.
            #expect(report.unguarded.memoryUsedBytes > Self.limit * 9 / 10)
            #expect(report.unguarded.memoryUsedBytes <= Self.limit + 64 * 1024)
            #expect(report.unguarded.bytesPerTask > 20_000)
            // Guarded: nothing fails, every task stores its locks, ≤2% of unguarded bytes per task.
            #expect(report.guarded.failedRequests == 0)
            #expect(report.guarded.failedTasks == 0)
            #expect(report.guarded.completedTasks == Self.replay.tasks)
            #expect(report.guarded.bytesPerTask > 0)
            #expect(report.guarded.bytesPerTask <= report.unguarded.bytesPerTask * 0.02)
            #expect(report.bytesPerTaskPercent <= 2.0)
            // Guarded on a full Redis: still no failed request; the throttle degraded to local.
            #expect(report.guardedFullCache.failedRequests == 0)
            #expect((report.guardedFullCache.counters?.throttleDegraded ?? 0) > 0)

            // The server is left as found: empty, its maxmemory and policy restored.
            let check = try server.makeClient()
            #expect(try await check.send("DBSIZE").int64 == 0)
            let maxMemory = try await check.send("CONFIG", "GET", "maxmemory")
            let policy = try await check.send("CONFIG", "GET", "maxmemory-policy")
            #expect(Self.configValue(maxMemory) == String(64 << 20))
            #expect(Self.configValue(policy) == "allkeys-lru")
            await check.close()
        }
    }

    @Test("refuses to flush a database that holds keys unless allowed")
    func refusesNonEmptyDatabase() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient()
            _ = try await client.send("SET", "precious", "1")
            await #expect(throws: RedisDemoError.self) {
                _ = try await RedisServerDemoTarget.connect(url: server.url, allowFlush: false)
            }
            #expect(try await client.send("GET", "precious").string == "1")
            await client.close()
        }
    }

    @Test("--backend parses memory, redis and Redis URLs, and rejects anything else")
    func backendOption() throws {
        #expect(try DemoBackend("memory") == .memory)
        #expect(try DemoBackend("redis") == .redis(url: nil))
        #expect(try DemoBackend("redis://127.0.0.1:6380/2") == .redis(url: "redis://127.0.0.1:6380/2"))
        #expect(throws: CacheError.self) { try DemoBackend("redis://127.0.0.1:notaport") }
        #expect(throws: CacheError.self) { try DemoBackend("memcached://x") }
    }

    static func configValue(_ reply: RESPValue) -> String? {
        switch reply {
        case .map(let entries): entries.first?.value.string
        case .array(let elements): elements.count >= 2 ? elements[1].string : nil
        default: nil
        }
    }
}
