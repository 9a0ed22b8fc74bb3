import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// What each spill write costs on the wire: one round trip, and no old value pulled back.
@Suite("ValueSpill round trips")
struct SpillRoundTripTests {
    @Test("overwrite, expire and delete of a spilled key are one round trip each", arguments: TestBackend.allCases)
    func oneRoundTripEach(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let clock = ManualClock()
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store, grace: .seconds(10), clock: BlobClock(clock: clock, origin: spillOrigin), metricsFactory: metrics)
            }
            let redis = base as? RedisClient
            // The first use of the script on a client loads it (SCRIPT LOAD): once per client.
            try await cache.set("rt:warm", value: ByteBuffer(string: "w"))
            try await cache.set("rt:k", value: spillBytes(5000, seed: 1), expiry: .after(.seconds(60)))
            let first = try #require(await store.ids.first)

            client.log.clear()
            try await Self.resetStats(redis)
            #expect(try await cache.set("rt:k", value: spillBytes(6000, seed: 2), expiry: .after(.seconds(60))) == .stored)
            #expect(client.log.all == ["set+head"])
            try await Self.expectScriptOnly(redis, inner: ["type", "getrange", "set"])
            #expect(await store.count == 1)
            let second = try #require(await store.ids.first)
            #expect(second != first, "the overwritten blob was released")

            client.log.clear()
            try await Self.resetStats(redis)
            #expect(try await cache.expire("rt:k", ttl: .seconds(120)))
            #expect(client.log.all == ["expire+head"])
            try await Self.expectScriptOnly(redis, inner: ["type", "getrange", "pexpire"])
            #expect(await store.metadata(of: second)?.expiresAt == spillOrigin.advanced(by: .seconds(130)), "the blob follows the new TTL plus grace")

            client.log.clear()
            try await Self.resetStats(redis)
            #expect(try await cache.delete("rt:k"))
            #expect(client.log.all == ["delete+head"])
            try await Self.expectScriptOnly(redis, inner: ["type", "getrange", "del"])
            #expect(await store.count == 0, "the deleted key's blob was released")
            #expect(try await cache.get("rt:k") == nil)
            #expect(metrics.total("spillway_blobs_released_total") == 2)
        }
    }

    @Test("an expire that removes a spilled key releases its blob", arguments: TestBackend.allCases)
    func expireToZeroReleases(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            // Without LimitsGuard, which refuses a TTL ≤ 0 before it reaches the spill.
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
                KeyGuard()
                ValueSpill(store: store)
            }
            try await cache.set("rt:gone", value: spillBytes(5000), expiry: .after(.seconds(60)))
            #expect(await store.count == 1)
            #expect(try await cache.expire("rt:gone", ttl: .zero))
            #expect(try await rawValue(client, "rt:gone") == nil)
            #expect(await store.count == 0)
        }
    }

    @Test("a caller's own delete/expire with a head sees the value's head, not the pointer's", arguments: TestBackend.allCases)
    func callersHeads(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = ValueSpillTests.cache(client, store)
            let big = spillBytes(5000, seed: 3)
            try await cache.set("rt:h", value: big)
            let expired = try await cache.execute(.expireReturningHead("rt:h", ttl: .seconds(30), headBytes: 10))
            guard case .headed(true, let head) = expired else { Issue.record("expire: \(expired)"); return }
            #expect(head == big.getSlice(at: 0, length: 10))
            #expect(await store.count == 1)
            let escaped = ByteBuffer(bytes: SpillEnvelope.magic + [0x45, 1, 2, 3])
            try await cache.set("rt:e", value: escaped)
            let deleted = try await cache.execute(.deleteReturningHead("rt:e", headBytes: 10))
            guard case .headed(true, let raw) = deleted else { Issue.record("delete: \(deleted)"); return }
            #expect(raw == escaped.getSlice(at: 0, length: 10), "an escaped value's head is unescaped")
            let spilled = try await cache.execute(.deleteReturningHead("rt:h", headBytes: 4))
            guard case .headed(true, let four) = spilled else { Issue.record("delete spilled: \(spilled)"); return }
            #expect(four == big.getSlice(at: 0, length: 4))
            #expect(await store.count == 0)
        }
    }

    @Test("an mset over spilled keys is one round trip, and releases the blobs it replaced", arguments: TestBackend.allCases)
    func msetOneRoundTrip(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store, metricsFactory: metrics)
            }
            let redis = base as? RedisClient
            try await cache.mset([KeyValue("rt:warm", ByteBuffer(string: "w"))])  // loads the script
            try await cache.mset([KeyValue("rt:a", spillBytes(5000, seed: 1)), KeyValue("rt:b", spillBytes(5000, seed: 2))], ttl: .seconds(60))
            let old = Set(await store.ids)
            #expect(old.count == 2)

            client.log.clear()
            try await Self.resetStats(redis)
            let pairs = [
                KeyValue("rt:a", spillBytes(6000, seed: 3)), KeyValue("rt:b", ByteBuffer(string: "small now")),
                KeyValue("rt:c", spillBytes(7000, seed: 4)),
            ]
            #expect(try await cache.mset(pairs, ttl: .seconds(60)) == .stored)
            #expect(client.log.all == ["mset+head"], "no read before the write")
            // rt:c did not exist: TYPE finds none, so no GETRANGE for it.
            try await Self.expectScriptOnly(redis, counts: ["type": 3, "getrange": 2, "set": 3])
            let now = Set(await store.ids)
            #expect(now.count == 2, "rt:a's and rt:b's old blobs were released; rt:a and rt:c spilled")
            #expect(now.isDisjoint(with: old))
            #expect(metrics.total("spillway_blobs_released_total") == 2)
            #expect(try await cache.mget(pairs.map(\.key)) == pairs.map { Optional($0.value) })
        }
    }

    @Test("a caller's own mset with heads sees the old values' heads, not the pointers'", arguments: TestBackend.allCases)
    func callersMsetHeads(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = ValueSpillTests.cache(client, store)
            let big = spillBytes(5000, seed: 5)
            let escaped = ByteBuffer(bytes: SpillEnvelope.magic + [0x45, 1, 2, 3])
            try await cache.set("rt:mh1", value: big)
            try await cache.set("rt:mh2", value: escaped)
            let reply = try await cache.execute(
                .msetReturningHeads([KeyValue("rt:mh1", ByteBuffer(string: "x")), KeyValue("rt:mh2", ByteBuffer(string: "y")), KeyValue("rt:mh3", ByteBuffer(string: "z"))], ttl: nil, headBytes: 6)
            )
            guard case .write(let result) = reply else { Issue.record("mset: \(reply)"); return }
            #expect(result.outcome == .stored)
            #expect(result.previousHeads == [big.getSlice(at: 0, length: 6), escaped.getSlice(at: 0, length: 6), nil], "a spilled value's head comes from its blob; an escaped value's is unescaped")
            #expect(await store.count == 0, "the overwritten blob was released")
        }
    }

    /// `CONFIG RESETSTAT` on Redis (nothing on MemoryCache).
    static func resetStats(_ redis: RedisClient?) async throws {
        guard let redis else { return }
        _ = try await redis.send("CONFIG", "RESETSTAT")
    }

    /// On Redis: since the last reset, the only command a client sent (besides this check's own
    /// `CONFIG`) is one `EVALSHA`, and every other command counted ran once inside it.
    static func expectScriptOnly(_ redis: RedisClient?, inner: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectScriptOnly(redis, counts: Dictionary(uniqueKeysWithValues: inner.map { ($0, 1) }), sourceLocation: sourceLocation)
    }

    /// On Redis: since the last reset, the only command a client sent (besides this check's own
    /// `CONFIG`) is one `EVALSHA`, and the others ran inside it, each as many times as `counts` says.
    static func expectScriptOnly(_ redis: RedisClient?, counts: [String: Int], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        guard let redis else { return }
        let stats = try #require(try await redis.send("INFO", "commandstats").string)
        var calls: [String: Int] = [:]
        for line in stats.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            guard let field = line.split(separator: ",").first?.split(separator: "=").last, let n = Int(field) else { continue }
            calls[String(name)] = n
        }
        calls = calls.filter { !$0.key.hasPrefix("config") && !$0.key.hasPrefix("info") }
        var expected = counts
        expected["evalsha"] = 1
        #expect(calls == expected, "commands since the reset", sourceLocation: sourceLocation)
    }
}

/// Bytes on the wire per overwrite, measured through the TCP fault proxy's byte counters.
@Suite("ValueSpill wire bytes (redis-server)")
struct SpillWireBytesTests {
    /// The bytes both ways that `body` costs on the proxied connection.
    static func bytes(_ proxy: FaultProxy, _ body: () async throws -> Void) async throws -> Int {
        let before = proxy.bytesForwarded(.upstream) + proxy.bytesForwarded(.downstream)
        try await body()
        return proxy.bytesForwarded(.upstream) + proxy.bytesForwarded(.downstream) - before
    }

    @Test("overwriting a 100 KB unspilled value costs at most 1.1× a plain SET (SET … GET cost about 2×)")
    func overwriteBytes() async throws {
        try await RedisServer.withRedisServer { server in
            try await FaultProxy.withProxy(targetPort: server.port) { proxy in
                let redis = try server.makeClient {
                    $0.port = proxy.port
                    $0.maxConnections = 1
                }
                do {
                    let value1 = spillBytes(100_000, seed: 1)
                    let value2 = spillBytes(100_000, seed: 2)
                    let policies = PolicyTable(defaults: CachePolicy())  // spillAbove 512 KiB: 100 KB stays in the cache
                    func measure(_ client: SpillTestClient, key: CacheKey) async throws -> Int {
                        let cache = GuardedCache(client: client, policies: policies) { ValueSpill(store: MemoryBlobStore()) }
                        try await cache.set("wire:warm", value: ByteBuffer(string: "w"))  // loads the script, if any
                        try await cache.set(key, value: value1)
                        let cost = try await Self.bytes(proxy) { try await cache.set(key, value: value2) }
                        #expect(try await cache.get(key) == value2)
                        return cost
                    }
                    _ = try await redis.execute(.set("wire:plain", value1, SetOptions()))
                    let plain = try await Self.bytes(proxy) { _ = try await redis.execute(.set("wire:plain", value2, SetOptions())) }
                    let head = try await measure(SpillTestClient(redis, mode: .head), key: "wire:head")
                    let setGet = try await measure(SpillTestClient(redis, mode: .setGet), key: "wire:setget")
                    let readFirst = try await measure(SpillTestClient(redis, mode: .readFirst), key: "wire:read")
                    let ratio = Double(head) / Double(plain)
                    print("spill wire bytes per 100 KB overwrite: plain SET \(plain), head script \(head) (\(ratio)x), SET … GET \(setGet) (\(Double(setGet) / Double(plain))x), GET then SET \(readFirst) (\(Double(readFirst) / Double(plain))x)")
                    #expect(ratio <= 1.1)
                    #expect(Double(setGet) / Double(plain) >= 1.9, "the old path pulled the old value back")
                    await redis.close()
                } catch {
                    await redis.close()
                    throw error
                }
            }
        }
    }

    @Test("an mset overwriting two 100 KB unspilled values costs at most 1.1× a plain MSET (MGET then MSET cost about 2×)")
    func msetOverwriteBytes() async throws {
        try await RedisServer.withRedisServer { server in
            try await FaultProxy.withProxy(targetPort: server.port) { proxy in
                let redis = try server.makeClient {
                    $0.port = proxy.port
                    $0.maxConnections = 1
                }
                do {
                    let first = [spillBytes(100_000, seed: 1), spillBytes(100_000, seed: 2)]
                    let second = [spillBytes(100_000, seed: 3), spillBytes(100_000, seed: 4)]
                    let policies = PolicyTable(defaults: CachePolicy())  // spillAbove 512 KiB: 100 KB stays in the cache
                    func pairs(_ prefix: String, _ values: [ByteBuffer]) -> [KeyValue] {
                        values.enumerated().map { KeyValue(CacheKey("\(prefix):\($0.offset)"), $0.element) }
                    }
                    func measure(_ client: SpillTestClient, prefix: String) async throws -> Int {
                        let cache = GuardedCache(client: client, policies: policies) { ValueSpill(store: MemoryBlobStore()) }
                        try await cache.mset([KeyValue("wire:mwarm", ByteBuffer(string: "w"))])  // loads the script, if any
                        try await cache.mset(pairs(prefix, first))
                        let cost = try await SpillWireBytesTests.bytes(proxy) { try await cache.mset(pairs(prefix, second)) }
                        #expect(try await cache.mget(pairs(prefix, second).map(\.key)) == second.map { Optional($0) })
                        return cost
                    }
                    _ = try await redis.execute(.mset(pairs("wire:mplain", first), ttl: nil))
                    let plain = try await SpillWireBytesTests.bytes(proxy) { _ = try await redis.execute(.mset(pairs("wire:mplain", second), ttl: nil)) }
                    let heads = try await measure(SpillTestClient(redis, mode: .head), prefix: "wire:mhead")
                    let readFirst = try await measure(SpillTestClient(redis, mode: .setGet), prefix: "wire:mread")
                    let ratio = Double(heads) / Double(plain)
                    print("spill wire bytes per mset of two 100 KB overwrites: plain MSET \(plain), heads script \(heads) (\(ratio)x), MGET then MSET \(readFirst) (\(Double(readFirst) / Double(plain))x)")
                    #expect(ratio <= 1.1)
                    #expect(Double(readFirst) / Double(plain) >= 1.9, "the old path pulled the old values back")
                    await redis.close()
                } catch {
                    await redis.close()
                    throw error
                }
            }
        }
    }
}
