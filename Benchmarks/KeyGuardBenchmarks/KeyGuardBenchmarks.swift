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

    Benchmark("bare no-op client GET") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await client.execute(.get(key))) }
    }
    Benchmark("guarded GET, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await guarded.execute(.get(key))) }
    }
    Benchmark("bare no-op client SET") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await client.execute(.set(key, value, SetOptions(ttl: .seconds(60))))) }
    }
    Benchmark("guarded SET, 40-byte key") { benchmark async throws in
        for _ in benchmark.scaledIterations { blackHole(try await guarded.execute(.set(key, value, SetOptions(ttl: .seconds(60))))) }
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
