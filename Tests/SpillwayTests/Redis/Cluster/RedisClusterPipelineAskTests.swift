import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// `ASK` inside a general ``RedisClusterClient/pipeline(_:resendIfLost:)``: while a slot is
/// migrating, the commands of the pipeline for keys that have left (or never were on) the source
/// are sent again to the target, each preceded by `ASKING`, in their order; the others are
/// answered where they are; the slot map does not change.
@Suite("Redis Cluster pipeline following ASK", .sharedRedisCluster)
struct RedisClusterPipelineAskTests {
    @Test("a pipeline across a migrating slot: ASKed commands go to the target with ASKING, in order; the map is untouched")
    func askInPipeline() async throws {
        try await RedisClusterFixture.exclusive { cluster in
            let client = try cluster.makeClient()
            do {
                try await Self.askInPipeline(cluster, client)
                await client.close()
            } catch {
                await client.close()
                throw error
            }
        }
    }

    static func askInPipeline(_ cluster: RedisClusterServer, _ client: RedisClusterClient) async throws {
        let old: CacheKey = "{askp}:old"
        let new: CacheKey = "{askp}:new"
        let slot = RedisClusterClient.slot(of: old)
        _ = try await client.execute(.set(old, ByteBuffer(string: "old"), SetOptions()))
        let migration = try await cluster.beginMigration(of: slot)
        let (source, target) = (migration.source, migration.target)
        let (sourceServer, targetServer) = (migration.sourceServer, migration.targetServer)
        #expect(try await source.address == RedisClusterClientTests.owner(of: slot, in: cluster))
        // A key of a slot the target does not own and that is not moving, for a third node's
        // or the source's part of the pipeline.
        let other = try #require(
            (0..<10_000).lazy.map { CacheKey("other:\($0)") }.first { key in
                let s = RedisClusterClient.slot(of: key)
                return s != slot && client.topology?.master(forSlot: s) != target.address
            })

        let replies = try await client.pipeline([
            RedisClusterCommand(key: new, ["SET", new, "new"]),  // not on the source: ASK
            RedisClusterCommand(key: old, ["GET", old]),  // still on the source: served there
            RedisClusterCommand(key: other, ["SET", other, "x"]),  // elsewhere, untouched
            RedisClusterCommand(key: new, ["GET", new]),  // ASK too, and after the SET on the target
            RedisClusterCommand(key: new, ["APPEND", new, "!"]),  // ASK, after the GET
        ])
        #expect(replies.map(\.string) == ["OK", "old", "OK", "new", nil])
        #expect(replies[4].int64 == 4)
        #expect(client.stats.asked == 3, "each command for the new key was ASKed once")
        #expect(client.stats.moved == 0)
        #expect(client.topology?.master(forSlot: slot) == source.address, "ASK leaves the map alone")
        let onTarget = try await cluster.withNodeClient(targetServer) { node in
            try await node.pipeline([["ASKING"], ["GET", new]])
        }
        #expect(onTarget[1].string == "new!", "the ASKed writes ran on the target, in order")
        // Nothing of the new key was written on the source: it still ASKs for it.
        var sourceAnswer = ""
        do {
            _ = try await cluster.withNodeClient(sourceServer) { try await $0.send("GET", new) }
        } catch let error as CacheError {
            sourceAnswer = error.message
        }
        #expect(sourceAnswer.hasPrefix("ASK \(slot) "), "the source answered: \(sourceAnswer)")

        // Back as created: drop the keys, end the migration on both nodes.
        try await cluster.withNodeClient(targetServer) { node in
            _ = try await node.pipeline([["ASKING"], ["DEL", new]])
            _ = try await node.send("CLUSTER", "SETSLOT", slot, "STABLE")
        }
        try await cluster.withNodeClient(sourceServer) { node in
            _ = try await node.send("DEL", old)
            _ = try await node.send("CLUSTER", "SETSLOT", slot, "STABLE")
        }
        _ = try await client.execute(.delete(other))
        try await cluster.waitUntilHealthy()
    }
}
