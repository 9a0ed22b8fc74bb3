import Logging
import NIOCore
import ServiceLifecycle
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// ``RedisClusterClient`` against a real 6-node cluster (3 masters, 3 replicas), shared with the
/// contract suites and started once.
@Suite("Redis Cluster client on a real cluster", .sharedRedisCluster)
struct RedisClusterClientTests {
    /// Runs `body` with a client, alone on the emptied cluster.
    func withClient<R>(
        _ configure: @escaping (inout RedisClusterConfiguration) -> Void = { _ in },
        _ body: (RedisClusterServer, RedisClusterClient) async throws -> R
    ) async throws -> R {
        try await RedisClusterFixture.exclusive { cluster in
            let client = try cluster.makeClient(configure)
            do {
                let result = try await body(cluster, client)
                await client.close()
                return result
            } catch {
                await client.close()
                throw error
            }
        }
    }

    /// The master holding `slot`, by asking the cluster (not the client).
    static func owner(of slot: Int, in cluster: RedisClusterServer) async throws -> RedisClusterNodeAddress {
        let reply = try await cluster.withNodeClient(cluster.nodes[0]) { try await $0.send("CLUSTER", "SHARDS") }
        let topology = try RedisClusterTopology(shards: reply, queried: cluster.addresses[0])
        return try #require(topology.master(forSlot: slot))
    }

    @Test("RedisClusterSlot agrees with the server's CLUSTER KEYSLOT")
    func keyslotCrossCheck() async throws {
        try await withClient { cluster, _ in
            var rng = SystemRandomNumberGenerator()
            var keys: [[UInt8]] = ["somekey", "foo{hash_tag}", "foo", "hello", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "", "{", "}{x}"]
                .map { Array($0.utf8) }
            for _ in 0..<300 {
                var key = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if Bool.random(using: &rng) { key.insert(UInt8(ascii: "{"), at: Int.random(in: 0...key.count, using: &rng)) }
                if Bool.random(using: &rng) { key.insert(UInt8(ascii: "}"), at: Int.random(in: 0...key.count, using: &rng)) }
                keys.append(key)
            }
            let replies = try await cluster.withNodeClient(cluster.nodes[0]) { node in
                try await node.pipeline(keys.map { ["CLUSTER", "KEYSLOT", ByteBuffer(bytes: $0)] })
            }
            for (key, reply) in zip(keys, replies) {
                #expect(reply.int64.map(Int.init) == RedisClusterSlot.of(key), "key \(key)")
            }
        }
    }

    @Test("topology from CLUSTER SHARDS: 3 masters covering every slot, the same as CLUSTER SLOTS says")
    func topology() async throws {
        try await withClient { cluster, client in
            try await client.refreshTopology()
            let topology = try #require(client.topology)
            #expect(topology.masters.count == 3)
            #expect(topology.coveredSlots == 16384)
            let masters = Set(try await cluster.roles().filter(\.isMaster).map(\.address))
            #expect(Set(topology.masters) == masters)
            let slotsReply = try await cluster.withNodeClient(cluster.nodes[1]) { try await $0.send("CLUSTER", "SLOTS") }
            let fromSlots = try RedisClusterTopology(slots: slotsReply, queried: cluster.addresses[1])
            for slot in stride(from: 0, to: 16384, by: 97) {
                #expect(fromSlots.master(forSlot: slot) == topology.master(forSlot: slot))
            }
            #expect(client.stats.refreshes == 1)
        }
    }

    @Test("each key lands on its slot's master; mget and mset span every master")
    func routing() async throws {
        try await withClient { cluster, client in
            let keys = (0..<60).map { CacheKey("route:\($0)") }
            for (i, key) in keys.enumerated() {
                _ = try await client.execute(.set(key, ByteBuffer(string: "v\(i)"), SetOptions()))
            }
            // Read each key straight from the master the cluster says owns it: no redirection.
            var masters: Set<RedisClusterNodeAddress> = []
            for (i, key) in keys.enumerated() {
                let owner = try await Self.owner(of: RedisClusterClient.slot(of: key), in: cluster)
                masters.insert(owner)
                let value = try await cluster.withNodeClient(try #require(cluster.server(at: owner))) { try await $0.send("GET", key) }
                #expect(value.string == "v\(i)")
            }
            #expect(masters.count == 3, "60 keys spread over the 3 masters")

            let pairs = (0..<50).map { KeyValue(CacheKey("multi:\($0)"), ByteBuffer(string: "m\($0)")) }
            guard case .write(let stored) = try await client.execute(.mset(pairs, ttl: .seconds(100))) else { Issue.record("mset"); return }
            #expect(stored.outcome == .stored)
            let wanted = pairs.map(\.key) + ["multi:absent"] + keys.prefix(5)
            guard case .values(let values) = try await client.execute(.mget(wanted)) else { Issue.record("mget"); return }
            #expect(values == pairs.map { Optional($0.value) } + [nil] + (0..<5).map { ByteBuffer(string: "v\($0)") })
            let ttl = try await client.send(key: "multi:7", "PTTL", arguments: [CacheKey("multi:7")])
            #expect((1...100_000).contains(ttl.int64 ?? -1), "the TTL was set on each slot's keys")
            #expect(client.stats.moved == 0 && client.stats.asked == 0)
            let stats = try await client.memoryStats()
            #expect(stats.keyCount == 110)
        }
    }

    @Test("pipeline: split by node, concurrently, replies in order; a slot moved under it in the middle is followed")
    func pipelineAcrossNodes() async throws {
        try await withClient({
            $0.minRefreshInterval = .zero; $0.refreshJitter = .zero
        }) { cluster, client in
            try await client.refreshTopology()
            let keys = (0..<60).map { CacheKey("pipe:\($0)") }
            let masters = Set(keys.compactMap { client.topology?.master(forSlot: RedisClusterClient.slot(of: $0)) })
            #expect(masters.count == 3, "the keys span every master")
            let sets = try await client.pipeline(keys.enumerated().map { RedisClusterCommand(key: $1, ["SET", $1, "v\($0)"]) })
            #expect(sets.map(\.string) == Array(repeating: "OK", count: keys.count))
            #expect(client.stats.moved == 0)

            // Move an empty slot to another master behind the client's back; the pipeline then
            // has two commands for it in the middle of the others.
            let movedKey: CacheKey = "pipe-moved:key"
            let slot = RedisClusterClient.slot(of: movedKey)
            let source = try await Self.owner(of: slot, in: cluster)
            let roles = try await cluster.roles()
            let target = try #require(roles.first { $0.isMaster && $0.address != source })
            try await cluster.handOver(slots: [slot], to: target)
            var commands = keys.prefix(30).map { RedisClusterCommand(key: $0, ["GET", $0]) }
            commands.append(RedisClusterCommand(key: movedKey, ["SET", movedKey, "moved"]))
            commands.append(RedisClusterCommand(key: movedKey, ["GET", movedKey]))
            commands.append(RedisClusterCommand(key: keys[0], ["INCR", keys[0]]))  // WRONGTYPE-like error, as a value
            commands += keys.suffix(30).map { RedisClusterCommand(key: $0, ["GET", $0]) }
            let replies = try await client.pipeline(commands)
            #expect(replies.count == commands.count)
            #expect(replies.prefix(30).map(\.string) == (0..<30).map { "v\($0)" })
            #expect(replies[30].string == "OK" && replies[31].string == "moved")
            #expect(replies[32].errorMessage?.hasPrefix("ERR") == true, "other error replies are values: \(replies[32])")
            #expect(replies.suffix(30).map(\.string) == (30..<60).map { "v\($0)" })
            #expect(client.stats.moved == 2, "both commands of the moved slot were redirected")
            #expect(client.topology?.master(forSlot: slot) == target.address)
            let stored = try await cluster.withNodeClient(try #require(cluster.server(at: target.address))) { try await $0.send("GET", movedKey) }
            #expect(stored.string == "moved")

            // mget over every master goes through the same path.
            guard case .values(let values) = try await client.execute(.mget(keys + [movedKey])) else { Issue.record("mget"); return }
            #expect(values == (0..<60).map { ByteBuffer(string: "v\($0)") } + [ByteBuffer(string: "moved")])

            // Back as created.
            _ = try await client.execute(.delete(movedKey))
            let sourceRole = try #require(roles.first { $0.address == source })
            try await cluster.handOver(slots: [slot], to: sourceRole)
            try await cluster.waitUntilHealthy()
        }
    }

    @Test("CROSSSLOT is a classified invalidArgument error")
    func crossSlot() async throws {
        try await withClient { _, client in
            #expect(RedisClusterSlot.of("a") != RedisClusterSlot.of("b"))
            do {
                _ = try await client.send(key: "a", "MSET", arguments: ["a", "1", "b", "2"])
                Issue.record("keys of two slots in one command must fail")
            } catch let error as CacheError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.hasPrefix("CROSSSLOT"))
            }
        }
    }

    @Test("MOVED: a slot moved under the client is patched, retried, and refreshes once")
    func moved() async throws {
        try await withClient({
            $0.minRefreshInterval = .zero; $0.refreshJitter = .zero
        }) { cluster, client in
            let key: CacheKey = "moved:key"
            let slot = RedisClusterClient.slot(of: key)
            try await client.refreshTopology()
            let source = try await Self.owner(of: slot, in: cluster)
            let roles = try await cluster.roles()
            let target = try #require(roles.first { $0.isMaster && $0.address != source })
            // Move the (empty) slot to the target on every master.
            try await cluster.handOver(slots: [slot], to: target)
            _ = try await client.execute(.set(key, ByteBuffer(string: "after"), SetOptions()))
            #expect(client.stats.moved == 1)
            #expect(client.topology?.master(forSlot: slot) == target.address)
            let stored = try await cluster.withNodeClient(try #require(cluster.server(at: target.address))) { try await $0.send("GET", key) }
            #expect(stored.string == "after")
            #expect(client.stats.refreshes == 2, "the first read and one after MOVED")
            // Move it back, empty again.
            _ = try await client.execute(.delete(key))
            let sourceRole = try #require(roles.first { $0.address == source })
            try await cluster.handOver(slots: [slot], to: sourceRole)
            guard case .value(let gone) = try await client.execute(.get(key)) else { Issue.record("get"); return }
            #expect(gone == nil)
            try await cluster.waitUntilHealthy()
        }
    }

    @Test("ASK during a migration: ASKING and the command on one connection; the map is untouched")
    func ask() async throws {
        try await withClient { cluster, client in
            let old: CacheKey = "{ask}:old"
            let new: CacheKey = "{ask}:new"
            let slot = RedisClusterClient.slot(of: old)
            _ = try await client.execute(.set(old, ByteBuffer(string: "old"), SetOptions()))
            let migration = try await cluster.beginMigration(of: slot)
            let (source, target) = (migration.source, migration.target)
            let (sourceServer, targetServer) = (migration.sourceServer, migration.targetServer)
            #expect(try await source.address == Self.owner(of: slot, in: cluster))

            // A key still on the source is served there; a new one is ASKed to the target.
            guard case .value(let stillThere) = try await client.execute(.get(old)) else { Issue.record("get"); return }
            #expect(stillThere == ByteBuffer(string: "old"))
            #expect(client.stats.asked == 0)
            _ = try await client.execute(.set(new, ByteBuffer(string: "new"), SetOptions()))
            #expect(client.stats.asked == 1)
            #expect(client.topology?.master(forSlot: slot) == source.address, "ASK leaves the map alone")
            // MULTI (increment with a TTL) and the GCRA script follow ASK too.
            guard case .integer(let counted) = try await client.execute(.increment("{ask}:counter", by: 3, ttlOnCreate: .seconds(60))) else {
                Issue.record("increment")
                return
            }
            #expect(counted == 3)
            guard case .throttle(let decision) = try await client.execute(.throttle("{ask}:limiter", GCRAParameters(limit: 2, period: .seconds(60)))) else {
                Issue.record("throttle")
                return
            }
            #expect(decision.allowed && decision.remaining == 1)
            #expect(client.stats.asked == 3 || client.stats.asked == 4, "SCRIPT LOAD may or may not be asked first: \(client.stats.asked)")
            let onTarget = try await cluster.withNodeClient(targetServer) { node in
                try await node.pipeline([["ASKING"], ["GET", new], ["ASKING"], ["GET", CacheKey("{ask}:counter")]])
            }
            #expect(onTarget[1].string == "new" && onTarget[3].string == "3")

            // Finish the migration: move the old key, then give the slot to the target everywhere.
            let moved = try await cluster.withNodeClient(sourceServer) { node in
                try await node.send("MIGRATE", target.address.host, target.address.port, "", 0, 5000, "KEYS", old)
            }
            #expect(moved.string == "OK")
            try await cluster.handOver(slots: [slot], to: target)
            guard case .values(let both) = try await client.execute(.mget([old, new])) else { Issue.record("mget"); return }
            #expect(both == [ByteBuffer(string: "old"), ByteBuffer(string: "new")])
            #expect(client.stats.moved == 1)
            // And back, so the next test sees the cluster as created.
            for key in [old, new, "{ask}:counter", "{ask}:limiter"] as [CacheKey] { _ = try await client.execute(.delete(key)) }
            try await cluster.handOver(slots: [slot], to: source)
            try await cluster.waitUntilHealthy()
        }
    }

    @Test("KeyGuard's hashed keys keep their hash tag's slot on the real cluster")
    func hashedKeysKeepSlot() async throws {
        try await withClient { cluster, _ in
            let hasher = KeyHasher()
            let padding = String(repeating: "x", count: 300)
            // Readable-prefix form: the tag sits whole in the kept prefix.
            let inPrefix = CacheKey("{user:42}:profile:" + padding)
            // Appended form: the tag comes after the readable prefix, so `{tag}` is appended.
            let appended = CacheKey("session:" + String(repeating: "p", count: 60) + ":{user:42}:" + padding)
            // `{#…}` form: the tag itself is too long to keep.
            let longTag = "{" + String(repeating: "t", count: 200) + "}"
            let hashedTagA = CacheKey("a:" + longTag + ":" + padding)
            let hashedTagB = CacheKey("b:" + longTag + ":other")
            let forms = [inPrefix, appended, hashedTagA, hashedTagB].map { hasher.hashed($0, maxKeyBytes: 128) }
            #expect(forms[0].string.hasPrefix("{user:42}:profile:"))
            #expect(forms[1].string.contains("…{user:42}#v1:"))
            #expect(forms[2].string.contains("…{#") && forms[2].string.contains("}#v2:") && forms[3].string.contains("…{#"))
            let originals = [inPrefix, appended, hashedTagA, hashedTagB]
            let replies = try await cluster.withNodeClient(cluster.nodes[0]) { node in
                try await node.pipeline((originals + forms).map { ["CLUSTER", "KEYSLOT", $0] })
            }
            let slots = replies.map { Int($0.int64 ?? -1) }
            #expect(slots[4] == slots[0], "readable-prefix form keeps the original's slot")
            #expect(slots[5] == slots[1], "appended-tag form keeps the original's slot")
            #expect(slots[0] == slots[1], "both carry {user:42}")
            #expect(slots[6] == slots[2], "{#…} form (v2) keeps the original's slot")
            #expect(slots[7] == slots[3], "{#…} form (v2) keeps the original's slot")
            #expect(slots[6] == slots[7], "{#…} form: keys sharing a long tag share one slot")
            #expect(slots[2] == slots[3])
            for (key, slot) in zip(originals + forms, slots) { #expect(RedisClusterSlot.of(key.bytes.readableBytesView) == slot) }
            // Many long tags, over many slots (and the smallest key budget): the server agrees.
            let manyOriginals = (0..<200).map { CacheKey("k\($0):{tenant-\($0)-" + String(repeating: "t", count: 60) + "}:" + padding) }
            let manyForms = manyOriginals.map { hasher.hashed($0, maxKeyBytes: CachePolicy.minimumMaxKeyBytes) }
            #expect(manyForms.allSatisfy { $0.count <= CachePolicy.minimumMaxKeyBytes && $0.string.contains("}#v2:") })
            let manyReplies = try await cluster.withNodeClient(cluster.nodes[0]) { node in
                try await node.pipeline((manyOriginals + manyForms).map { ["CLUSTER", "KEYSLOT", $0] })
            }
            let manySlots = manyReplies.map { Int($0.int64 ?? -1) }
            #expect(Array(manySlots[..<200]) == Array(manySlots[200...]), "every {#…} form keeps its original's slot")
            #expect(Set(manySlots[..<200]).count > 150, "the tags spread over many slots")
        }
    }

    @Test("refreshes stay bounded under a burst of MOVED (one per interval), and match INFO commandstats")
    func boundedRefreshes() async throws {
        try await withClient({
            $0.minRefreshInterval = .seconds(1); $0.refreshJitter = .zero
        }) { cluster, client in
            try await client.refreshTopology()
            let roles = try await cluster.roles()
            // Move 20 empty slots of the first master to the second.
            let first = try #require(roles.first { $0.isMaster })
            let second = try #require(roles.first { $0.isMaster && $0.id != first.id })
            let topology = try #require(client.topology)
            let slots = Array(topology.slots(of: first.address).prefix(20))
            try await cluster.handOver(slots: slots, to: second)
            // 200 writes at once into those slots: each is MOVED once; refreshes are bounded.
            var keys: [CacheKey] = []
            var n = 0
            while keys.count < 200 {
                let key = CacheKey("burst:\(n)")
                if slots.contains(RedisClusterClient.slot(of: key)) { keys.append(key) }
                n += 1
            }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for key in keys {
                    group.addTask { _ = try await client.execute(.set(key, ByteBuffer(string: "b"), SetOptions())) }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let stats = client.stats
            #expect(stats.moved >= 20, "at least one MOVED per slot: \(stats.moved)")
            // The explicit refresh, then at most one per second of the burst (the trailing one included).
            #expect(stats.refreshes <= 2 + Int(elapsed.components.seconds), "\(stats) in \(elapsed)")
            #expect(stats.refreshesThrottled + stats.refreshesCoalesced >= stats.moved - stats.refreshes, "every other MOVED was absorbed: \(stats)")
            let calls = try await RedisClusterFixture.commandCalls("cluster|shards", on: cluster)
            // The suite's own `owner(of:)` asks nothing here; the client asked one node per refresh.
            #expect(calls == stats.refreshes, "INFO commandstats counts \(calls) CLUSTER SHARDS calls")
            for key in keys { _ = try await client.execute(.delete(key)) }
            try await cluster.handOver(slots: slots, to: first)
            try await cluster.waitUntilHealthy()
        }
    }

    @Test("as a Service: periodic refreshes while running, closed after graceful shutdown")
    func service() async throws {
        try await withClient({
            $0.periodicRefreshInterval = .milliseconds(50); $0.minRefreshInterval = .milliseconds(10)
        }) { _, client in
            let group = ServiceGroup(services: [client], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                _ = try await client.execute(.set("service:key", ByteBuffer(string: "v"), SetOptions()))
                let deadline = ContinuousClock.now + .seconds(10)
                while client.stats.refreshes < 4 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(client.stats.refreshes >= 4, "periodic refreshes: \(client.stats.refreshes)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            await #expect(throws: CacheError.self) { try await client.execute(.get("service:key")) }
        }
    }
}
