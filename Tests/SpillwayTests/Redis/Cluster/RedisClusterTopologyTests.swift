import NIOCore
import Spillway
import SpillwayRedis
import Testing

/// Parsing `CLUSTER SHARDS` and `CLUSTER SLOTS` replies, and `redis-cluster://` URLs.
@Suite("Redis Cluster topology and configuration")
struct RedisClusterTopologyTests {
    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    static func node(ip: String, port: Int64, role: String, health: String, endpoint: String? = nil) -> [(String, RESPValue)] {
        [
            ("id", bulk(String(repeating: "a", count: 40))), ("port", .integer(port)), ("ip", bulk(ip)),
            ("endpoint", bulk(endpoint ?? ip)), ("role", bulk(role)), ("replication-offset", .integer(1)), ("health", bulk(health)),
        ]
    }

    static func shard(_ slots: [Int64], _ nodes: [[(String, RESPValue)]], resp3: Bool) -> RESPValue {
        let slotValue = RESPValue.array(slots.map { .integer($0) })
        if resp3 {
            return .map([
                RESPMapEntry(key: bulk("slots"), value: slotValue),
                RESPMapEntry(key: bulk("nodes"), value: .array(nodes.map { .map($0.map { RESPMapEntry(key: bulk($0.0), value: $0.1) }) })),
            ])
        }
        return .array([bulk("slots"), slotValue, bulk("nodes"), .array(nodes.map { .array($0.flatMap { [bulk($0.0), $0.1] }) })])
    }

    @Test("CLUSTER SHARDS, RESP3 and RESP2: masters by slot; a shard without slots is ignored", arguments: [true, false])
    func shards(resp3: Bool) throws {
        let reply = RESPValue.array([
            Self.shard([0, 5460], [Self.node(ip: "10.0.0.1", port: 7000, role: "master", health: "online"), Self.node(ip: "10.0.0.4", port: 7003, role: "replica", health: "online")], resp3: resp3),
            Self.shard([5461, 10922], [Self.node(ip: "10.0.0.2", port: 7001, role: "master", health: "online")], resp3: resp3),
            // After a failover, Redis 7.0 lists the failed old master in a shard of its own with no slots.
            Self.shard([], [Self.node(ip: "10.0.0.9", port: 7009, role: "master", health: "fail")], resp3: resp3),
            Self.shard([10923, 12000, 12001, 16383], [Self.node(ip: "10.0.0.3", port: 7002, role: "master", health: "online", endpoint: "?")], resp3: resp3),
        ])
        let topology = try RedisClusterTopology(shards: reply, queried: RedisClusterNodeAddress(host: "10.0.0.1", port: 7000))
        #expect(topology.masters.map(\.description) == ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"])
        #expect(topology.coveredSlots == 16384)
        #expect(topology.master(forSlot: 5460)?.port == 7000)
        #expect(topology.master(forSlot: 5461)?.port == 7001)
        #expect(topology.master(forSlot: 12001)?.port == 7002)
        #expect(topology.master(forSlot: 12001)?.host == "10.0.0.3", "an unknown endpoint falls back to the IP")
    }

    @Test("CLUSTER SLOTS: the first node of each range is its master; an empty IP is the node asked")
    func slots() throws {
        func range(_ start: Int64, _ end: Int64, _ ip: String, _ port: Int64) -> RESPValue {
            .array([.integer(start), .integer(end), .array([Self.bulk(ip), .integer(port), Self.bulk("id")]), .array([Self.bulk("10.9.9.9"), .integer(1), Self.bulk("r")])])
        }
        let reply = RESPValue.array([range(0, 8191, "10.0.0.1", 7000), range(8192, 16383, "", 7001)])
        let topology = try RedisClusterTopology(slots: reply, queried: RedisClusterNodeAddress(host: "10.0.0.7", port: 7001))
        #expect(topology.coveredSlots == 16384)
        #expect(topology.master(forSlot: 0)?.description == "10.0.0.1:7000")
        #expect(topology.master(forSlot: 16383)?.description == "10.0.0.7:7001")
    }

    @Test("malformed replies are protocol errors")
    func malformed() {
        let queried = RedisClusterNodeAddress(host: "h", port: 1)
        #expect(throws: CacheError.self) { try RedisClusterTopology(shards: .integer(1), queried: queried) }
        #expect(throws: CacheError.self) { try RedisClusterTopology(shards: .array([.array([Self.bulk("slots")])]), queried: queried) }
        #expect(throws: CacheError.self) { try RedisClusterTopology(slots: .array([.array([.integer(1)])]), queried: queried) }
    }

    @Test("assign and compact")
    func assignCompact() {
        var topology = RedisClusterTopology()
        let a = RedisClusterNodeAddress(host: "a", port: 1)
        let b = RedisClusterNodeAddress(host: "b", port: 2)
        topology.assign(0...16383, to: a)
        topology.assign(0...16383, to: b)
        #expect(topology.masters == [a, b])
        topology.compact()
        #expect(topology.masters == [b])
        #expect(topology.master(forSlot: 42) == b)
        #expect(topology.slots(of: b).count == 16384)
    }

    @Test("redis-cluster:// URLs: seeds, credentials and TLS for every node")
    func urls() throws {
        let plain = try RedisClusterConfiguration(url: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002")
        #expect(plain.seeds.map(\.description) == ["127.0.0.1:7000", "127.0.0.1:7001", "[::1]:7002"])
        #expect(plain.node.tls == nil && plain.node.password == nil)
        let secure = try RedisClusterConfiguration(url: "rediss-cluster://alice:p%40ss@h1:6380,h2:6381?ca_file=/tmp/ca.pem")
        #expect(secure.seeds.map(\.description) == ["h1:6380", "h2:6381"])
        #expect(secure.node.username == "alice" && secure.node.password == "p@ss")
        #expect(secure.node.tls != nil && secure.node.tlsCAFile == "/tmp/ca.pem")
        for bad in ["redis://h:1", "redis-cluster://", "redis-cluster://h:1,,h:2", "redis-cluster://h:1/2", "redis-cluster://h:99999"] {
            #expect(throws: CacheError.self, "\(bad)") { try RedisClusterConfiguration(url: bad) }
        }
        #expect(RedisClusterNodeAddress("127.0.0.1:6379") == RedisClusterNodeAddress(host: "127.0.0.1", port: 6379))
        #expect(RedisClusterNodeAddress("nonsense") == nil)
    }
}
