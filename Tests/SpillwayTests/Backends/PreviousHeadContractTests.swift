import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The previous-head operations (``CacheCapabilities/returnsPreviousHead``), run against every
/// backend that claims them.
@Suite("CacheClient contract: previous heads", .sharedRedisCluster)
struct PreviousHeadContractTests {
    @Test("set returns only the head of the previous value, with NX/XX outcomes as SET", arguments: TestBackend.withCluster)
    func setReturningHead(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            #expect(client.capabilities.returnsPreviousHead)
            let key: CacheKey = "head:set"
            var options = SetOptions(returnPrevious: true)
            options.previousHeadBytes = 4
            let first = try await client.write(key, "abcdefgh", options)
            #expect(first.outcome == .stored)
            #expect(first.previous == nil, "a missing key has no head")
            let second = try await client.write(key, "12345678", options)
            #expect(second.outcome == .stored)
            #expect(second.previous == ByteBuffer(string: "abcd"))
            var nx = options
            nx.condition = .ifNotExists
            let refused = try await client.write(key, "zz", nx)
            #expect(refused.outcome == .conditionNotMet)
            #expect(refused.previous == ByteBuffer(string: "1234"))
            var xx = options
            xx.condition = .ifExists
            let absent = try await client.write("head:absent", "zz", xx)
            #expect(absent.outcome == .conditionNotMet)
            #expect(absent.previous == nil)
            #expect(try await client.value(of: "head:absent") == nil)
            var short = options
            short.previousHeadBytes = 100
            let whole = try await client.write(key, ByteBuffer(), short)
            #expect(whole.previous == ByteBuffer(string: "12345678"), "a value shorter than the head comes back whole")
            short.previousHeadBytes = 0
            let empty = try await client.write(key, "x", short)
            #expect(empty.previous == ByteBuffer(), "an existing key with a 0-byte head gives an empty head, not nil")
            var ttl = options
            ttl.expiry = .after(.seconds(100))
            #expect(try await client.write(key, "with ttl", ttl).outcome == .stored)
            #expect(try await client.value(of: key) == ByteBuffer(string: "with ttl"))
        }
    }

    @Test("delete and expire return the head of the value they touched", arguments: TestBackend.withCluster)
    func deleteAndExpire(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            _ = try await client.write("head:del", "0123456789", SetOptions())
            let deleted = try await client.execute(.deleteReturningHead("head:del", headBytes: 3))
            guard case .headed(true, let head) = deleted else { Issue.record("delete: \(deleted)"); return }
            #expect(head == ByteBuffer(string: "012"))
            #expect(try await client.value(of: "head:del") == nil)
            let again = try await client.execute(.deleteReturningHead("head:del", headBytes: 3))
            guard case .headed(false, nil) = again else { Issue.record("second delete: \(again)"); return }

            _ = try await client.write("head:exp", "abcdef", SetOptions())
            let expired = try await client.execute(.expireReturningHead("head:exp", ttl: .seconds(50), headBytes: 64))
            guard case .headed(true, let whole) = expired else { Issue.record("expire: \(expired)"); return }
            #expect(whole == ByteBuffer(string: "abcdef"))
            #expect(try await client.value(of: "head:exp") == ByteBuffer(string: "abcdef"))
            let missing = try await client.execute(.expireReturningHead("head:none", ttl: .seconds(5), headBytes: 8))
            guard case .headed(false, nil) = missing else { Issue.record("expire missing: \(missing)"); return }
            let removed = try await client.execute(.expireReturningHead("head:exp", ttl: .zero, headBytes: 2))
            guard case .headed(true, let two) = removed else { Issue.record("expire 0: \(removed)"); return }
            #expect(two == ByteBuffer(string: "ab"))
            #expect(try await client.value(of: "head:exp") == nil, "a non-positive TTL removes the key, as PEXPIRE 0 does")
        }
    }

    @Test("mset returns the head of each key's previous value, every head from before the write", arguments: TestBackend.withCluster)
    func msetReturningHeads(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            _ = try await client.write("head:m1", "abcdefgh", SetOptions())
            _ = try await client.write("{head:m1}x", "xyz", SetOptions())
            _ = try await client.write("head:m3", "0123456789", SetOptions())
            // On a cluster the keys span several slots ({head:m1}x shares head:m1's): one script per slot.
            let pairs = [
                KeyValue("head:m1", ByteBuffer(string: "new1")), KeyValue("head:m2", ByteBuffer(string: "new2")),
                KeyValue("head:m3", ByteBuffer(string: "new3")), KeyValue("{head:m1}x", ByteBuffer(string: "newx")),
                KeyValue("head:m1", ByteBuffer(string: "again")),
            ]
            let reply = try await client.execute(.msetReturningHeads(pairs, ttl: .seconds(100), headBytes: 4))
            guard case .write(let result) = reply else { Issue.record("mset: \(reply)"); return }
            #expect(result.outcome == .stored)
            let expected: [ByteBuffer?] = [ByteBuffer(string: "abcd"), nil, ByteBuffer(string: "0123"), ByteBuffer(string: "xyz"), ByteBuffer(string: "abcd")]
            #expect(result.previousHeads == expected, "a missing key has no head; a key given twice gets the value from before the write twice")
            guard case .values(let values) = try await client.execute(.mget(["head:m1", "head:m2", "head:m3", "{head:m1}x"])) else {
                Issue.record("mget")
                return
            }
            #expect(values == ["again", "new2", "new3", "newx"].map { Optional(ByteBuffer(string: $0)) }, "the last pair of a key wins, as MSET")
            if let ttl = try await Self.ttl(client, "head:m2") { #expect(ttl > .seconds(90) && ttl <= .seconds(100)) }

            let none = try await client.execute(.msetReturningHeads([KeyValue("head:m2", ByteBuffer(string: "x")), KeyValue("head:m4", ByteBuffer(string: "y"))], ttl: nil, headBytes: 0))
            guard case .write(let zero) = none else { Issue.record("mset 0: \(none)"); return }
            #expect(zero.previousHeads == [ByteBuffer(), nil], "an existing key with a 0-byte head gives an empty head, not nil")
            if let ttl = try await Self.ttl(client, "head:m2") { Issue.record("a write without TTL left one: \(ttl)") }
            guard case .write(let empty) = try await client.execute(.msetReturningHeads([], ttl: nil, headBytes: 4)) else { Issue.record("empty"); return }
            #expect(empty.outcome == .stored && empty.previousHeads.isEmpty)
        }
    }

    /// A key's remaining TTL on the backends that can tell it (`nil`: none, or not known).
    static func ttl(_ client: any CacheClient, _ key: CacheKey) async throws -> Duration? {
        if let memory = client as? MemoryCache<ManualClock> { return await memory.ttl(of: key) }
        let reply: RESPValue
        if let redis = client as? RedisClient {
            reply = try await redis.send("PTTL", key)
        } else if let cluster = client as? RedisClusterClient {
            reply = try await cluster.send(key: key, "PTTL", arguments: [key])
        } else {
            return nil
        }
        guard case .integer(let ms) = reply, ms >= 0 else { return nil }
        return .milliseconds(ms)
    }

    @Test("on Redis, mset with heads overwrites a key of another type as MSET does (no head), and its script's SHA-1 is the one the client knows")
    func msetOtherTypes() async throws {
        try await TestBackend.redis.withClient { client in
            let redis = try #require(client as? RedisClient)
            #expect(try await redis.send("SCRIPT", "LOAD", RedisScripts.msetHeads).string == RedisScripts.msetHeadsSHA1)
            _ = try await redis.send("SCRIPT", "FLUSH")
            _ = try await redis.send("RPUSH", "head:mlist", "a")
            let reply = try await client.execute(.msetReturningHeads([KeyValue("head:mlist", ByteBuffer(string: "now a string"))], ttl: nil, headBytes: 16))
            guard case .write(let result) = reply else { Issue.record("mset: \(reply)"); return }
            #expect(result.previousHeads == [nil])
            #expect(try await client.value(of: "head:mlist") == ByteBuffer(string: "now a string"))
            _ = try await redis.send("SCRIPT", "FLUSH")
            let again = try await client.execute(.msetReturningHeads([KeyValue("head:mlist", ByteBuffer(string: "after flush"))], ttl: nil, headBytes: 3))
            guard case .write(let reloaded) = again else { Issue.record("after flush: \(again)"); return }
            #expect(reloaded.previousHeads == [ByteBuffer(string: "now")], "NOSCRIPT falls back to EVAL")
        }
    }

    @Test("on Redis, a key of another type is overwritten by set as SET does, and has no head")
    func otherTypes() async throws {
        try await TestBackend.redis.withClient { client in
            let redis = try #require(client as? RedisClient)
            _ = try await redis.send("RPUSH", "head:list", "a")
            var options = SetOptions(returnPrevious: true)
            options.previousHeadBytes = 16
            let result = try await client.write("head:list", "now a string", options)
            #expect(result.outcome == .stored)
            #expect(result.previous == nil)
            #expect(try await client.value(of: "head:list") == ByteBuffer(string: "now a string"))
            _ = try await redis.send("RPUSH", "head:list2", "a")
            let deleted = try await client.execute(.deleteReturningHead("head:list2", headBytes: 16))
            guard case .headed(true, nil) = deleted else { Issue.record("delete of a list: \(deleted)"); return }
        }
    }

    @Test("on Redis, the script is reloaded after SCRIPT FLUSH (NOSCRIPT falls back to EVAL), and its SHA-1 is the one the client knows")
    func scriptFlush() async throws {
        try await TestBackend.redis.withClient { client in
            let redis = try #require(client as? RedisClient)
            #expect(try await redis.send("SCRIPT", "LOAD", RedisScripts.previousHead).string == RedisScripts.previousHeadSHA1)
            _ = try await redis.send("SCRIPT", "FLUSH")
            _ = try await client.write("head:flush", "before", SetOptions())
            guard case .headed(true, _) = try await client.execute(.expireReturningHead("head:flush", ttl: .seconds(30), headBytes: 4)) else {
                Issue.record("first call")
                return
            }
            _ = try await redis.send("SCRIPT", "FLUSH")
            let deleted = try await client.execute(.deleteReturningHead("head:flush", headBytes: 4))
            guard case .headed(true, let head) = deleted else { Issue.record("after flush: \(deleted)"); return }
            #expect(head == ByteBuffer(string: "befo"))
        }
    }

    @Test("at maxmemory, delete and expire with heads keep working and set is refused with OOM", arguments: TestBackend.withCluster)
    func outOfMemory(_ backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 48 * 1024, policy: .noEviction) { client in
            _ = try await client.write("head:oom", "keep me", SetOptions())
            // The hash tag puts the filler on head:oom's slot, so on a cluster it fills that master.
            #expect(try await fillUntilOOM(client, prefix: "{head:oom}fill:", valueBytes: 900) > 0)
            var options = SetOptions(returnPrevious: true)
            options.previousHeadBytes = 16
            do throws(CacheError) {
                _ = try await client.write("head:oom", "new", options)
                Issue.record("a write at maxmemory was accepted")
            } catch {
                #expect(error.code == .outOfMemory)
            }
            let expired = try await client.execute(.expireReturningHead("head:oom", ttl: .seconds(100), headBytes: 4))
            guard case .headed(true, let head) = expired else { Issue.record("expire at OOM: \(expired)"); return }
            #expect(head == ByteBuffer(string: "keep"))
            let pairs = [KeyValue("head:oom", ByteBuffer(string: "a")), KeyValue("{head:oom}new", ByteBuffer(string: "b"))]
            do throws(CacheError) {
                _ = try await client.execute(.msetReturningHeads(pairs, ttl: nil, headBytes: 4))
                Issue.record("an mset at maxmemory was accepted")
            } catch {
                #expect(error.code == .outOfMemory)
            }
            #expect(try await client.value(of: "head:oom") == ByteBuffer(string: "keep me"), "a refused mset writes none of its keys")
            #expect(try await client.value(of: "{head:oom}new") == nil)
            let deleted = try await client.execute(.deleteReturningHead("head:oom", headBytes: 4))
            guard case .headed(true, _) = deleted else { Issue.record("delete at OOM: \(deleted)"); return }
        }
    }
}
