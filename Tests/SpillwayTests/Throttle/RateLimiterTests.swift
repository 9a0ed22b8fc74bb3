import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// A shared store that always fails, as a cache at maxmemory fails every throttle write.
struct FailingThrottleStore: ThrottleStore {
    var code: CacheError.Code = .outOfMemory
    func throttleStep(_ key: CacheKey, _ parameters: GCRAParameters, route: String?) async throws(CacheError) -> GCRADecision {
        throw CacheError(code, CacheError.redisOOMMessage)
    }
}

@Suite("RateLimiter: GCRA on the shared cache, and every degraded path")
struct RateLimiterTests {
    /// 5 per 10 s: one request every 2 s, a burst of 5.
    static let policy = ThrottlePolicy(limit: 5, period: .seconds(10))

    static func expectSequence(_ decide: () async -> RateLimitDecision, clock: ManualClock) async {
        // From rest: five pass back to back, the remaining budget counting down.
        for expected in [4, 3, 2, 1, 0] {
            let d = await decide()
            #expect(d.allowed)
            #expect(d.remaining == expected)
            #expect(d.retryAfter == .zero)
        }
        // The sixth is denied: the next slot opens in one emission interval (2 s); full reset in 10 s.
        let denied = await decide()
        #expect(!denied.allowed)
        #expect(denied.remaining == 0)
        #expect(denied.retryAfter == .seconds(2))
        #expect(denied.resetAfter == .seconds(10))
        // A denial changes nothing: 1 s later the wait is 1 s.
        clock.advance(by: .seconds(1))
        let stillDenied = await decide()
        #expect(!stillDenied.allowed)
        #expect(stillDenied.retryAfter == .seconds(1))
        // At 2 s exactly one more passes, with nothing left.
        clock.advance(by: .seconds(1))
        let one = await decide()
        #expect(one.allowed)
        #expect(one.remaining == 0)
        let again = await decide()
        #expect(!again.allowed)
        #expect(again.retryAfter == .seconds(2))
        // After the full window the burst is back.
        clock.advance(by: .seconds(10))
        let rested = await decide()
        #expect(rested.allowed)
        #expect(rested.remaining == 4)
    }

    @Test("the GCRA's exact allow/deny sequence and retry-after values, on MemoryCache")
    func sharedSequence() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(clock: clock)
        let limiter = RateLimiter(store: GuardedCache(client: memory) {}, clock: clock)
        await Self.expectSequence({ await limiter.decide(client: "alice", scope: "GET /orders", policy: Self.policy) }, clock: clock)
        #expect(limiter.stats.counts == RateLimitStats.Counts(allowed: 7, denied: 3))
        // One small key per client and scope.
        #expect(await memory.keys() == [CacheKey("rl:GET /orders:alice")])
        // Another client and another scope have their own budgets.
        #expect(await limiter.decide(client: "bob", scope: "GET /orders", policy: Self.policy).remaining == 4)
        #expect(await limiter.decide(client: "alice", scope: "POST /orders", policy: Self.policy).remaining == 4)
    }

    @Test("the local limiter runs the same GCRA and decides identically at share 1")
    func localSequence() async {
        let clock = ManualClock()
        let local = LocalRateLimiter(clock: clock)
        let params = Self.policy.parameters
        await Self.expectSequence(
            {
                let d = local.step("alice", params)
                return RateLimitDecision(allowed: d.allowed, limit: 5, remaining: d.remaining, retryAfter: d.retryAfter, resetAfter: d.resetAfter, path: .degradedLocal)
            }, clock: clock)
    }

    @Test("onCacheFailure allow: fail open, counted as degraded_allow")
    func failOpen() async {
        let limiter = RateLimiter(store: FailingThrottleStore(), clock: ManualClock())
        let policy = ThrottlePolicy(limit: 2, period: .seconds(60), onCacheFailure: .allow)
        for _ in 0..<50 {
            let d = await limiter.decide(client: "c", scope: "s", policy: policy)
            #expect(d.allowed)
            #expect(d.path == .degradedAllow)
            #expect(d.failure == .outOfMemory)
        }
        #expect(limiter.stats.counts == RateLimitStats.Counts(degradedAllow: 50))
    }

    @Test("onCacheFailure deny: fail closed with a retry-after, counted as degraded_deny")
    func failClosed() async {
        let limiter = RateLimiter(store: FailingThrottleStore(), clock: ManualClock())
        let policy = ThrottlePolicy(limit: 6, period: .seconds(60), onCacheFailure: .deny)
        let d = await limiter.decide(client: "c", scope: "s", policy: policy)
        #expect(!d.allowed)
        #expect(d.path == .degradedDeny)
        #expect(d.retryAfter == .seconds(10), "one emission interval: 60 s / 6")
        let fast = await limiter.decide(client: "c", scope: "s", policy: ThrottlePolicy(limit: 1000, period: .seconds(1), onCacheFailure: .deny))
        #expect(fast.retryAfter == .seconds(1), "never less than a second, so Retry-After is meaningful")
        #expect(limiter.stats.counts == RateLimitStats.Counts(degradedDeny: 2))
    }

    @Test("onCacheFailure local: an in-process GCRA enforces the local share of the limit")
    func failLocal() async {
        let clock = ManualClock()
        let limiter = RateLimiter(store: FailingThrottleStore(code: .connection), clock: clock)
        let policy = ThrottlePolicy(limit: 10, period: .seconds(60), onCacheFailure: .local, localShare: 0.5)
        var allowed = 0
        for _ in 0..<20 {
            let d = await limiter.decide(client: "c", scope: "s", policy: policy)
            #expect(d.path == .degradedLocal)
            #expect(d.limit == 5)
            if d.allowed { allowed += 1 }
        }
        #expect(allowed == 5, "half of a burst of 10")
        // The local share refills at half the rate: one request per 12 s.
        clock.advance(by: .seconds(12))
        #expect(await limiter.decide(client: "c", scope: "s", policy: policy).allowed)
        #expect(!(await limiter.decide(client: "c", scope: "s", policy: policy).allowed))
        #expect(limiter.stats.counts == RateLimitStats.Counts(degradedLocal: 22))
    }

    @Test("local is the default and a real OOM from MemoryCache takes that path", arguments: TestBackend.allCases)
    func realOOMIsLocal(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 256 * 1024) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let limiter = RateLimiter(store: GuardedCache(client: client) { Degrade(fallback: FallbackStore(maxBytes: 1024, clock: ManualClock())) }, clock: ManualClock())
            let policy = ThrottlePolicy(limit: 4, period: .seconds(60))
            #expect(policy.onCacheFailure == .local)
            var decisions: [RateLimitDecision] = []
            for _ in 0..<10 { decisions.append(await limiter.decide(client: "c", scope: "s", policy: policy)) }
            // Every refused step is decided locally; none is an error.
            #expect(decisions.contains { $0.path == .degradedLocal })
            #expect(decisions.allSatisfy { [.degradedLocal, .allowed, .denied].contains($0.path) })
            if backend == .memory {
                // MemoryCache refuses every step: half the burst of 4 passes locally.
                #expect(decisions.filter(\.allowed).count == 2)
                #expect(limiter.stats.counts == RateLimitStats.Counts(degradedLocal: 10))
            }
        }
    }

    @Test("the limiter goes back to the shared cache once the breaker closes again")
    func recovery() async throws {
        let clock = ManualClock()
        let client = SwitchableOOMClient(MemoryCache(clock: clock), refuseWrites: true)
        let breaker = WriteBreaker(configuration: .init(threshold: 2, window: .seconds(10), openDuration: .seconds(5)), clock: clock)
        let cache = GuardedCache(client: client) { Degrade(breaker: breaker) }
        let limiter = RateLimiter(store: cache, clock: clock)
        let policy = ThrottlePolicy(limit: 100, period: .seconds(1))
        for _ in 0..<10 { _ = await limiter.decide(client: "c", scope: "s", policy: policy) }
        #expect(breaker.state == .open)
        #expect(client.writesSeen == 2, "the open breaker holds throttle writes back too")
        #expect(limiter.stats.counts.degradedLocal == 10)
        client.refuseWrites = false
        clock.advance(by: .seconds(5))
        let d = await limiter.decide(client: "c", scope: "s", policy: policy)
        #expect(d.path == .allowed)
        #expect(breaker.state == .closed)
        #expect(limiter.stats.counts.allowed == 1)
    }

    @Test("the local limiter's memory is bounded")
    func localBound() {
        let clock = ManualClock()
        let local = LocalRateLimiter(maxKeys: 3, clock: clock)
        let params = GCRAParameters(limit: 1, period: .seconds(60))
        for i in 0..<100 { _ = local.step("client\(i)", params) }
        #expect(local.count <= 3)
        #expect(local.heapCount <= 2 * 3 + 16, "stale heap entries are compacted")
        // Rested keys go first: after a full period, every old key has rested, and a new key
        // takes the place of one of them.
        clock.advance(by: .seconds(61))
        #expect(local.step("new", params).allowed)
        #expect(local.count == 3)
        #expect(!local.step("new", params).allowed, "the new key was tracked, not evicted")
    }

    @Test("rotating identities evict each other, never a client that is being limited")
    func rotatingIdentitiesKeepTheLimitedClient() {
        let clock = ManualClock()
        let local = LocalRateLimiter(maxKeys: 3, clock: clock)
        let params = GCRAParameters(limit: 10, period: .seconds(60))
        for _ in 0..<10 { #expect(local.step("heavy", params).allowed) }
        #expect(!local.step("heavy", params).allowed)
        // 100,000 one-off identities: each eviction is O(log n), and the heavy client, whose TAT
        // is furthest from rest, is never the one dropped.
        for i in 0..<100_000 {
            _ = local.step("rotating-\(i)", params)
            if i % 10_000 == 0 { clock.advance(by: .milliseconds(1)) }
        }
        #expect(local.count == 3)
        #expect(local.heapCount <= 2 * 3 + 16)
        #expect(!local.step("heavy", params).allowed, "the limited client is still limited")
    }
}

@Suite("MemoryCache: the throttle step's stored state")
struct MemoryCacheThrottleStateTests {
    @Test("the TAT is stored as decimal digits with a TTL, rewritten in place, and readable as an integer")
    func storedTAT() async throws {
        let clock = ManualClock()
        let memory = MemoryCache(clock: clock)
        let key = CacheKey("rl:s:c")
        let params = GCRAParameters(limit: 5, period: .seconds(10))
        clock.advance(by: .seconds(100_000))  // a large TAT (15 digits)
        _ = try await memory.execute(.throttle(key, params))
        guard case .value(let first?) = try await memory.execute(.get(key)) else { Issue.record("no TAT stored"); return }
        #expect(String(buffer: first) == "100002000000000")
        #expect(await memory.ttl(of: key) == .seconds(2))
        _ = try await memory.execute(.throttle(key, params))
        guard case .value(let second?) = try await memory.execute(.get(key)) else { Issue.record("no TAT stored"); return }
        #expect(String(buffer: second) == "100004000000000")
        #expect(String(buffer: first) == "100002000000000", "a reader's copy is never changed by the in-place rewrite")
        #expect(await memory.ttl(of: key) == .seconds(4))
        // The same bytes count up as an integer (the parser agrees with Redis's INCR rules).
        #expect(try await memory.execute(.increment(key, by: 1, ttlOnCreate: nil)).integerValue == 100_004_000_000_001)
        _ = try await memory.execute(.set("neg", ByteBuffer(string: "-9223372036854775808"), SetOptions()))
        #expect(try await memory.execute(.increment("neg", by: 1, ttlOnCreate: nil)).integerValue == -9_223_372_036_854_775_807)
        _ = try await memory.execute(.set("big", ByteBuffer(string: "9223372036854775808"), SetOptions()))
        await #expect(throws: CacheError.self) { try await memory.execute(.increment("big", by: 1, ttlOnCreate: nil)) }
        _ = try await memory.execute(.set("sign", ByteBuffer(string: "+"), SetOptions()))
        await #expect(throws: CacheError.self) { try await memory.execute(.increment("sign", by: 1, ttlOnCreate: nil)) }
    }
}

extension CacheReply {
    var integerValue: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }
}
