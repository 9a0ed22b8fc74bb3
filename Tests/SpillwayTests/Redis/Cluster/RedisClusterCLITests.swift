import Foundation
import NIOCore
import Spillway
import SpillwayPolicyFile
import SpillwayRedis
import SpillwayTesting
import Testing
@testable import spillway

/// `spillway demo --backend redis-cluster://…` and `spillway audit redis-cluster://…` on the
/// shared real cluster.
@Suite("spillway demo and audit on a Redis Cluster", .sharedRedisCluster)
struct RedisClusterCLITests {
    @Test("audit scans every master into one report")
    func auditEveryMaster() async throws {
        try await RedisClusterFixture.exclusive { cluster in
            let client = try cluster.makeClient()
            // One oversized key per master (hash tags chosen to land on each), and plain keys.
            let masters = try await client.masters()
            var longKeys: [String] = []
            var tag = 0
            while longKeys.count < masters.count {
                let key = "{t\(tag)}:" + String(repeating: "k", count: 400)
                let owner = client.topology?.master(forSlot: RedisClusterSlot.of(key))
                if let owner, !longKeys.contains(where: { client.topology?.master(forSlot: RedisClusterSlot.of($0)) == owner }) {
                    longKeys.append(key)
                }
                tag += 1
            }
            for key in longKeys { _ = try await client.execute(.set(CacheKey(key), ByteBuffer(string: "v"), SetOptions(expiry: .after(.seconds(600))))) }
            for i in 0..<30 { _ = try await client.execute(.set(CacheKey("plain:\(i)"), ByteBuffer(string: "v"), SetOptions(expiry: .after(.seconds(600))))) }
            await client.close()
            var defaults = CachePolicy()
            defaults.maxKeyBytes = 256
            let report = try await AuditCommand.audit(url: cluster.url, policies: PolicyTable(defaults: defaults))
            #expect(report.keysScanned == 30 + masters.count)
            #expect(report.keysInDatabase == 30 + masters.count)
            #expect(report.violationCounts == ["keyTooLong": masters.count], "one long key on each of the \(masters.count) masters")
            #expect(report.exitCode == 1)
        }
    }

    @Test("demo --backend redis-cluster://: unguarded hits OOM on the masters, guarded fails nothing; settings restored")
    func demoOnCluster() async throws {
        #expect(try DemoBackend("redis-cluster://127.0.0.1:7000,127.0.0.1:7001") == .redisCluster(url: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001"))
        #expect(throws: CacheError.self) { try DemoBackend("redis-cluster://127.0.0.1:notaport") }
        try await RedisClusterFixture.exclusive { cluster in
            let replay = IncidentReplay(tasks: 600, keyBytes: 10_240, concurrency: 16, clients: 50, shape: .payloadInKey)
            let limit = 3 << 20
            let target = try await RedisClusterDemoTarget.connect(url: cluster.url, allowFlush: false)
            let report = try await DemoCommand.report(on: target, limit: limit, replay: replay)
            #expect(report.config.backend.hasPrefix("Redis Cluster (3 masters"))
            #expect(report.unguarded.failuresByCode["outOfMemory", default: 0] > 0)
            #expect(report.unguarded.completedTasks < replay.tasks)
            #expect(report.guarded.failedRequests == 0)
            #expect(report.guarded.failedTasks == 0)
            #expect(report.guarded.completedTasks == replay.tasks)
            #expect(report.guarded.bytesPerTask <= report.unguarded.bytesPerTask * 0.02)
            for role in try await cluster.roles() where role.isMaster {
                let (keys, maxMemory) = try await cluster.withNodeClient(try #require(cluster.server(at: role.address))) { node in
                    (try await node.send("DBSIZE").int64, try await node.send("CONFIG", "GET", "maxmemory"))
                }
                #expect(keys == 0)
                #expect(RedisDemoTests.configValue(maxMemory) == String(cluster.options.node.maxMemory))
            }
        }
    }
}
