import Benchmark
import NIOCore
import Spillway

/// A backend that answers every write `.stored` at once, so the chain's own cost is what a
/// benchmark measures (no actor hop, no storage).
struct InstantClient: CacheClient {
    var capabilities: CacheCapabilities { CacheCapabilities() }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { CacheMemoryStats(usedBytes: 0, maxBytes: nil, keyCount: 0) }
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        .write(WriteResult(.stored))
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.instructions, .mallocCountTotal, .wallClock],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    let key = CacheKey("session:42")
    let value = ByteBuffer(string: "a small cached value")
    let operation = CacheOperation.set(key, value, SetOptions(expiry: .after(.seconds(60))))
    let context = CacheContext(policy: CachePolicy())
    let client = InstantClient()

    // The no-fault path: the same write through an empty chain and through Degrade (with a
    // breaker and a fallback store configured). The difference per operation is Degrade's cost.
    let passthrough = PassthroughMiddleware()
    Benchmark("Chain set, no-fault: passthrough (baseline)") { benchmark in
        for _ in benchmark.scaledIterations {
            let reply = try await passthrough.handle(operation, context: context) { (op: CacheOperation, _: CacheContext) async throws(CacheError) -> CacheReply in
                try await client.execute(op)
            }
            blackHole(reply)
        }
    }

    let degrade = Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
    Benchmark("Chain set, no-fault: Degrade (breaker + fallback)") { benchmark in
        for _ in benchmark.scaledIterations {
            let reply = try await degrade.handle(operation, context: context) { (op: CacheOperation, _: CacheContext) async throws(CacheError) -> CacheReply in
                try await client.execute(op)
            }
            blackHole(reply)
        }
    }

    // One limiter decision on MemoryCache, through a GuardedCache with the key guard and
    // Degrade, as an app would run it: one client asking again and again, so its key lives
    // across decisions (one request costs 10 µs of budget, and a burst of 10⁹ keeps every
    // decision allowed for the whole run).
    let memory = MemoryCache()
    let cache = GuardedCache(client: memory) {
        KeyGuard()
        Degrade(breaker: WriteBreaker())
    }
    let limiter = RateLimiter(store: cache)
    let policy = ThrottlePolicy(limit: 100_000, period: .seconds(1), burst: 1_000_000_000)
    Benchmark("RateLimiter decision on MemoryCache (KeyGuard + Degrade)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await limiter.decide(client: "client-7", scope: "GET /orders", policy: policy))
        }
    }

    let bare = GuardedCache(client: MemoryCache()) {}
    let bareLimiter = RateLimiter(store: bare)
    Benchmark("RateLimiter decision on MemoryCache (empty chain)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await bareLimiter.decide(client: "client-7", scope: "GET /orders", policy: policy))
        }
    }

    // Where a decision's time goes: the backend step alone, and the limiter over a store that
    // answers at once.
    let direct = MemoryCache()
    let throttleKey = CacheKey("rl:GET /orders:client-7")
    let parameters = policy.parameters
    Benchmark("MemoryCache throttle step (direct, no limiter)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await direct.execute(.throttle(throttleKey, parameters)))
        }
    }
    Benchmark("MemoryCache get (direct): one actor call") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await direct.execute(.get(throttleKey)))
        }
    }
    let instantLimiter = RateLimiter(store: InstantThrottleStore())
    Benchmark("RateLimiter decision over an instant store (limiter overhead)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await instantLimiter.decide(client: "client-7", scope: "GET /orders", policy: policy))
        }
    }
}

/// A throttle store that allows at once, to measure the limiter's own cost.
struct InstantThrottleStore: ThrottleStore {
    func throttleStep(_ key: CacheKey, _ parameters: GCRAParameters, route: String?) async throws(CacheError) -> GCRADecision {
        GCRADecision(allowed: true, remaining: 1, retryAfter: .zero, resetAfter: .zero)
    }
}
