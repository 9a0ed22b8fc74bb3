import Benchmark
import NIOCore
import Spillway
import SpillwayTesting

/// The key guard's cost: a 40-byte key that needs no hash, through GuardedCache{KeyGuard,
/// LimitsGuard}, against calling the same no-op client directly. Instructions and mallocs per
/// operation are the figures that count; wall clock is noise on a shared machine.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.instructions, .mallocCountTotal, .wallClock],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    let key = CacheKey(String(repeating: "k", count: 40))
    let value = ByteBuffer(string: "value")
    let client = NoopCacheClient()
    let guarded = GuardedCache(client: client) {
        KeyGuard()
        LimitsGuard()
    }

    let keyGuardOnly = GuardedCache(client: client) { KeyGuard() }
    Benchmark("KeyGuard only GET, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await keyGuardOnly.execute(.get(key), route: "GET /bench")) }
    }
    Benchmark("empty chain GET (GuardedCache facade only)") { benchmark async throws in
        let empty = GuardedCache(client: client) {}
        for _ in benchmark.scaledIterations { blackHole(try await empty.execute(.get(key), route: "GET /bench")) }
    }
    let opaque = OpaqueNoopClient()
    Benchmark("bare opaque no-op client GET (not inlined, like every real client)") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await opaque.execute(.get(key))) }
    }
    let opaqueGuarded = GuardedCache(client: opaque) { KeyGuard() }
    Benchmark("KeyGuard only GET over the opaque client, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await opaqueGuarded.execute(.get(key), route: "GET /bench")) }
    }
    Benchmark("KeyGuard only, typed get(), 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await keyGuardOnly.get(key, route: "GET /bench")) }
    }
    Benchmark("bare no-op client GET") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await client.execute(.get(key))) }
    }
    Benchmark("guarded GET, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await guarded.execute(.get(key))) }
    }
    Benchmark("bare no-op client SET") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await client.execute(.set(key, value, SetOptions(expiry: .after(.seconds(60)))))) }
    }
    Benchmark("guarded SET, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await guarded.execute(.set(key, value, SetOptions(expiry: .after(.seconds(60)))))) }
    }

    let longKey = CacheKey(String(repeating: "p", count: 10_240))
    let secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial)
    Benchmark("keyed XXH3-128 of a 10 KiB key", configuration: .init(metrics: [.instructions, .mallocCountTotal, .throughput])) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(XXH3.hash128(longKey.bytes, secret: secret)) }
    }
    Benchmark("guarded GET, 10 KiB key hashed") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await guarded.execute(.get(longKey))) }
    }
}

/// A no-op backend whose `execute` the optimizer cannot inline into the caller, as is the case
/// for every real client (an actor, a NIO channel). The inlinable `NoopCacheClient` makes a
/// bare call almost free, which no real backend call is.
struct OpaqueNoopClient: CacheClient {
    var capabilities: CacheCapabilities { CacheCapabilities() }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { CacheMemoryStats(usedBytes: 0, maxBytes: nil, keyCount: 0) }
    @inline(never)
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply { .value(nil) }
}
