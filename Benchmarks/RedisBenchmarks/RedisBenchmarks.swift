import Benchmark
import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization

// Allocations (and wall clock) per GET and per SET through RedisClient, and through GuardedCache
// with the full chain on RedisClient, against an in-process StaticRedisServer (SET → +OK, GET →
// a fixed 100-byte value). One connection, nothing concurrent; 1,000 round trips per iteration
// (scalingFactor .kilo), and the figures are per round trip: with one round trip per iteration
// the harness's own per-iteration allocations (~19) would swamp the client's.
// mallocCountTotal counts the whole process, so it includes what NIO and the fake server
// allocate for the round trip; the "RedisConnection.send" benchmark is that floor (prebuilt
// command bytes, the connection's decoder and FIFO, no pool, no encoding, no CacheOperation).
// Compare: valkey-swift reports about 77 allocations per GET.

/// A connection opened in a benchmark's setup hook, outside the measurement.
final class ConnectionBox: Sendable {
    private let connection = Mutex<RedisConnection?>(nil)
    var value: RedisConnection {
        get { connection.withLock { $0! } }
        set { connection.withLock { $0 = newValue } }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.instructions, .mallocCountTotal, .wallClock],
        warmupIterations: 2,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 200
    )

    let value = ByteBuffer(repeating: 0x76, count: 100)
    let server: StaticRedisServer
    do {
        server = try StaticRedisServer.startBlocking(getValue: value)
    } catch {
        fatalError("cannot start the static Redis server: \(error)")
    }
    func makeClient() -> RedisClient {
        // One connection, opened by the first (warm-up) iteration.
        do {
            return try RedisClient(configuration: RedisConfiguration(port: server.port, idleTimeout: nil, maxConnections: 1))
        } catch {
            fatalError("\(error)")
        }
    }
    let key = CacheKey("bench:key:000042")
    let get = CacheOperation.get(key)
    let set = CacheOperation.set(key, value, SetOptions())

    // The floor: one connection, prebuilt command bytes.
    let box = ConnectionBox()
    var getBytes = ByteBuffer()
    getBytes.writeString("*2\r\n$3\r\nGET\r\n$16\r\nbench:key:000042\r\n")
    let prebuiltGet = getBytes
    Benchmark(
        "GET: RedisConnection.send, prebuilt bytes (floor: NIO + decoder + fake server)",
        closure: { benchmark in
            let connection = box.value
            for _ in benchmark.scaledIterations {
                blackHole(try await connection.send(prebuiltGet))
            }
        },
        setup: {
            box.value = try await RedisConnection.connect(
                configuration: RedisConfiguration(port: server.port, idleTimeout: nil),
                eventLoop: MultiThreadedEventLoopGroup.singleton.next()
            )
        },
        teardown: { await box.value.close() }
    )

    let client = makeClient()
    Benchmark("GET: RedisClient.execute") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await client.execute(get))
        }
    }
    Benchmark("SET: RedisClient.execute (100-byte value)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await client.execute(set))
        }
    }

    // The chain of `spillway bench redis` (no spill, no fault).
    let guarded = GuardedCache(client: makeClient()) {
        KeyGuard()
        LimitsGuard()
        Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
    }
    Benchmark("GET: GuardedCache{KeyGuard, LimitsGuard, Degrade} on RedisClient") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await guarded.execute(get))
        }
    }
    Benchmark("SET: GuardedCache{KeyGuard, LimitsGuard, Degrade} on RedisClient") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await guarded.execute(set))
        }
    }

    // Every middleware, ValueSpill included (100 bytes stays below spillAbove: nothing spills).
    let blobs: FileBlobStore
    do {
        blobs = try FileBlobStore.temporary(name: "redis-bench")
    } catch {
        fatalError("\(error)")
    }
    let full = GuardedCache(client: makeClient()) {
        KeyGuard()
        LimitsGuard()
        ValueSpill(store: blobs)
        Degrade(fallback: FallbackStore(maxBytes: 1 << 20), breaker: WriteBreaker())
    }
    Benchmark("GET: GuardedCache{KeyGuard, LimitsGuard, ValueSpill, Degrade} on RedisClient") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await full.execute(get))
        }
    }
    Benchmark("SET: GuardedCache{KeyGuard, LimitsGuard, ValueSpill, Degrade} on RedisClient") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await full.execute(set))
        }
    }
}
