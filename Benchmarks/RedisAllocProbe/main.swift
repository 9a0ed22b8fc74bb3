// A plain release executable (not a package-benchmark suite) that runs GETs through RedisClient,
// or through GuardedCache{KeyGuard, LimitsGuard, Degrade} on it, against the in-process
// StaticRedisServer, for counting allocations with an external tool, as a cross-check of
// RedisBenchmarks:
//
//   SPILLWAY_BENCHMARKS=1 swift build -c release --scratch-path .build-bench --product RedisAllocProbe
//   heaptrack -o /tmp/probe-none .build-bench/release/RedisAllocProbe none 20000
//   heaptrack -o /tmp/probe-bare .build-bench/release/RedisAllocProbe bare 20000
//   heaptrack_print -f /tmp/probe-bare.zst | grep '^calls to allocation functions'
//
// (bare − none) ÷ count is the allocations per GET. Arguments: none|bare|guarded [count].
import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "bare"
let count = arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000
precondition(["none", "bare", "guarded"].contains(mode), "usage: RedisAllocProbe none|bare|guarded [count]")

let server = try await StaticRedisServer.start(getValue: ByteBuffer(repeating: 0x76, count: 100))
let client = try RedisClient(configuration: RedisConfiguration(port: server.port, idleTimeout: nil, maxConnections: 1))
let guarded = GuardedCache(client: client) {
    KeyGuard()
    LimitsGuard()
    Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
}
let key = CacheKey("bench:key:000042")
// The same warm-up in every mode, so that `none` counts everything but the measured loop.
for _ in 0..<1000 {
    _ = try await client.execute(.get(key))
    _ = try await guarded.execute(.get(key))
}
switch mode {
case "bare":
    for _ in 0..<count { _ = try await client.execute(.get(key)) }
case "guarded":
    for _ in 0..<count { _ = try await guarded.execute(.get(key)) }
default:
    break
}
await client.close()
await server.stop()
