import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("MemoryCache")
struct MemoryCacheTests {
    func v(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test("noeviction: writes fail with Redis's exact OOM text; get, delete, exists, expire work")
    func oomSemantics() async throws {
        let cache = MemoryCache(maxMemory: 4096, policy: .noEviction, clock: ManualClock())
        var i = 0
        var refused: CacheError?
        while refused == nil && i < 1000 {
            do {
                _ = try await cache.execute(.set(CacheKey("k\(i)"), ByteBuffer(repeating: 1, count: 100), SetOptions()))
                i += 1
            } catch {
                refused = error
            }
        }
        let error = try #require(refused)
        #expect(error.code == .outOfMemory)
        #expect(error.message == "OOM command not allowed when used memory > 'maxmemory'.")
        #expect(i > 10)
        // Every write kind is refused.
        for op: CacheOperation in [
            .set("new", v("x"), SetOptions()), .increment("n", by: 1, ttlOnCreate: nil),
            .mset([KeyValue("m", v("x"))], ttl: nil), .throttle("t", GCRAParameters(limit: 1, period: .seconds(1))),
        ] {
            await #expect(throws: CacheError.self) { _ = try await cache.execute(op) }
        }
        // Reads, deletes and expires keep working.
        guard case .value(let got) = try await cache.execute(.get("k0")) else { Issue.record("reply"); return }
        #expect(got == ByteBuffer(repeating: 1, count: 100))
        guard case .bool(true) = try await cache.execute(.expire("k1", ttl: .seconds(10))) else { Issue.record("expire"); return }
        guard case .bool(true) = try await cache.execute(.exists("k1")) else { Issue.record("exists"); return }
        // Deleting frees memory, and writes are accepted again.
        for j in 0..<(i / 2) { _ = try await cache.execute(.delete(CacheKey("k\(j)"))) }
        guard case .write(let w) = try await cache.execute(.set("after", v("ok"), SetOptions())) else { Issue.record("set"); return }
        #expect(w.outcome == .stored)
        #expect(await cache.rejectedWrites >= 5)
    }

    @Test("configure(maxMemory:policy:) at run time, as CONFIG SET: a raised limit accepts writes, allkeys-lru then evicts")
    func configureAtRunTime() async throws {
        let cache = MemoryCache(maxMemory: 4096, policy: .noEviction, clock: ManualClock())
        var stored = 0
        while stored < 1000 {
            do {
                _ = try await cache.execute(.set(CacheKey("k\(stored)"), ByteBuffer(repeating: 2, count: 100), SetOptions()))
                stored += 1
            } catch {
                #expect(error.code == .outOfMemory)
                break
            }
        }
        #expect(stored > 10 && stored < 1000, "the 4 KiB limit refused a write: \(stored)")
        // A higher limit: the refused write is accepted now, nothing was evicted.
        await cache.configure(maxMemory: 64 * 1024)
        #expect(await cache.maxMemory == 64 * 1024)
        _ = try await cache.execute(.set("after-raise", v("x"), SetOptions()))
        #expect(await cache.count == stored + 1)
        // Back to the low limit with allkeys-lru: the next write evicts instead of failing.
        await cache.configure(maxMemory: 4096, policy: .allKeysLRU)
        #expect(await cache.policy == .allKeysLRU)
        _ = try await cache.execute(.set("after-lru", v("y"), SetOptions()))
        #expect(await cache.evictedKeys > 0)
        guard case .value(let got) = try await cache.execute(.get("after-lru")) else { Issue.record("reply"); return }
        #expect(got == v("y"))
        let used = await cache.usedMemory
        #expect(used <= 4096 + 200, "back near the limit: \(used)")
        // No limit at all: nothing is refused or evicted any more.
        let evicted = await cache.evictedKeys
        await cache.configure(maxMemory: nil)
        for i in 0..<200 { _ = try await cache.execute(.set(CacheKey("free\(i)"), ByteBuffer(repeating: 3, count: 100), SetOptions())) }
        #expect(await cache.evictedKeys == evicted)
    }

    @Test("TTLs follow the clock, with no sleeping")
    func ttl() async throws {
        let clock = ManualClock()
        let cache = MemoryCache(clock: clock)
        _ = try await cache.execute(.set("a", v("1"), SetOptions(expiry: .after(.seconds(10)))))
        _ = try await cache.execute(.increment("n", by: 1, ttlOnCreate: .seconds(5)))
        clock.advance(by: .seconds(4))
        _ = try await cache.execute(.increment("n", by: 1, ttlOnCreate: .seconds(100)))  // TTL only on create
        #expect(await cache.ttl(of: "n") == .seconds(1))
        #expect(await cache.ttl(of: "a") == .seconds(6))
        clock.advance(by: .seconds(1))
        guard case .value(nil) = try await cache.execute(.get("n")) else { Issue.record("n should have expired"); return }
        guard case .value(let a) = try await cache.execute(.get("a")) else { return }
        #expect(a == v("1"))
        clock.advance(by: .seconds(5))
        guard case .value(nil) = try await cache.execute(.get("a")) else { Issue.record("a should have expired"); return }
        // KEEPTTL keeps it, a plain SET clears it.
        _ = try await cache.execute(.set("b", v("1"), SetOptions(expiry: .after(.seconds(30)))))
        _ = try await cache.execute(.set("b", v("2"), SetOptions(expiry: .keep)))
        #expect(await cache.ttl(of: "b") == .seconds(30))
        _ = try await cache.execute(.set("b", v("3"), SetOptions()))
        #expect(await cache.ttl(of: "b") == nil)
        // EXPIRE with zero deletes, as Redis does.
        _ = try await cache.execute(.expire("b", ttl: .zero))
        guard case .bool(false) = try await cache.execute(.exists("b")) else { Issue.record("b should be gone"); return }
        // A non-positive SET TTL is an error.
        await #expect(throws: CacheError.self) { _ = try await cache.execute(.set("c", v("1"), SetOptions(expiry: .after(.seconds(-1))))) }
    }

    @Test("allkeys-lru evicts the least recently used keys and keeps recent ones")
    func lru() async throws {
        let cache = MemoryCache(maxMemory: 8192, policy: .allKeysLRU, clock: ManualClock())
        for i in 0..<20 { _ = try await cache.execute(.set(CacheKey("k\(i)"), ByteBuffer(repeating: 2, count: 200), SetOptions())) }
        _ = try await cache.execute(.get("k0"))  // k0 becomes most recent
        for i in 20..<200 { _ = try await cache.execute(.set(CacheKey("k\(i)"), ByteBuffer(repeating: 2, count: 200), SetOptions())) }
        #expect(await cache.evictedKeys > 0)
        #expect(await cache.usedMemory <= 8192 + 1024)
        guard case .bool(let k1) = try await cache.execute(.exists("k1")) else { return }
        guard case .bool(let k199) = try await cache.execute(.exists("k199")) else { return }
        #expect(!k1)
        #expect(k199)
    }

    @Test("set conditions, previous values and atomic increments")
    func setOptionsAndIncrement() async throws {
        let cache = MemoryCache(clock: ManualClock())
        guard case .write(let a) = try await cache.execute(.set("lock", v("me"), SetOptions(condition: .ifNotExists))) else { return }
        #expect(a.outcome == .stored)
        guard case .write(let b) = try await cache.execute(.set("lock", v("you"), SetOptions(condition: .ifNotExists))) else { return }
        #expect(b.outcome == .conditionNotMet)
        guard case .write(let c) = try await cache.execute(.set("nope", v("x"), SetOptions(condition: .ifExists))) else { return }
        #expect(c.outcome == .conditionNotMet)
        guard case .write(let d) = try await cache.execute(.set("lock", v("new"), SetOptions(returnPrevious: true))) else { return }
        #expect(d.previous == v("me"))
        // Concurrent increments lose nothing.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = try await cache.execute(.increment("c", by: 1, ttlOnCreate: nil)) } }
            try await group.waitForAll()
        }
        guard case .value(let c100) = try await cache.execute(.get("c")) else { return }
        #expect(c100 == v("100"))
        let error = await #expect(throws: CacheError.self) { _ = try await cache.execute(.increment("lock", by: 1, ttlOnCreate: nil)) }
        #expect(error?.message == "ERR value is not an integer or out of range")
    }

    @Test("memory accounting follows the Redis model and returns to zero")
    func accounting() async throws {
        let cache = MemoryCache(clock: ManualClock())
        #expect(await cache.usedMemory == 0)
        _ = try await cache.execute(.set("key", ByteBuffer(repeating: 0, count: 10_000), SetOptions()))
        let one = await cache.usedMemory
        #expect(one == RedisMemoryModel.entryCost(keyBytes: 3, valueBytes: 10_000, valueIsInteger: false, hasTTL: false) + RedisMemoryModel.tableCost(count: 1))
        #expect(one > 10_000 && one < 10_400)
        _ = try await cache.execute(.delete("key"))
        #expect(await cache.usedMemory == 0)
        #expect(RedisMemoryModel.sizeClass(24) == 32)
        #expect(RedisMemoryModel.sizeClass(129) == 160)
        #expect(RedisMemoryModel.sizeClass(300) == 320)
        #expect(RedisMemoryModel.sizeClass(10_010) == 10_240)
    }

    @Test("GCRA on MemoryCache: exact allow and deny sequence with retry-after")
    func throttle() async throws {
        let clock = ManualClock()
        let cache = MemoryCache(clock: clock)
        let p = GCRAParameters(limit: 3, period: .seconds(3))  // 1 per second, burst 3
        var decisions: [GCRADecision] = []
        for _ in 0..<4 {
            guard case .throttle(let d) = try await cache.execute(.throttle("rl", p)) else { return }
            decisions.append(d)
        }
        #expect(decisions.map(\.allowed) == [true, true, true, false])
        #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
        #expect(decisions[3].retryAfter == .seconds(1))
        clock.advance(by: .seconds(1))
        guard case .throttle(let again) = try await cache.execute(.throttle("rl", p)) else { return }
        #expect(again.allowed)
        #expect(again.remaining == 0)
    }
}
