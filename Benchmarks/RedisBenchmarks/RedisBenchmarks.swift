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

    // Decoding one big array reply that arrives in 64 KiB reads, through the reader the
    // connection uses (append each read, take replies off the front). Linear decoding makes the
    // 400,000-element reply cost about twice the 200,000-element one; re-parsing the partial
    // array on every read (the decoder before issue 13) made it about four times. CPU time
    // (user and system: page faults count) is the figure to compare on a shared machine, where
    // wall clock mostly measures the wait for a core.
    for count in [200_000, 400_000] {
        let reads = respArrayReads(count: count, readSize: 64 * 1024)
        Benchmark(
            "RESP: \(count)-element array reply in 64 KiB reads",
            configuration: .init(metrics: [.instructions, .mallocCountTotal, .wallClock, .cpuTotal], warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(5), maxIterations: 20)
        ) { benchmark in
            var reader = RESPReplyReader(decoder: RESPDecoder())
            var reply: RESPValue?
            benchmark.startMeasurement()
            for read in reads {
                reader.append(read)
                if let value = try reader.next() { reply = value }
            }
            benchmark.stopMeasurement()
            precondition(reply?.elements?.count == count, "the reply did not decode whole")
            blackHole(reply)
        }
    }
}

/// An array of `count` 5-byte bulk strings, cut into reads of `readSize` bytes (each its own
/// buffer, as a socket read would be).
func respArrayReads(count: Int, readSize: Int) -> [ByteBuffer] {
    var whole = ByteBuffer(string: "*\(count)\r\n")
    for _ in 0..<count { whole.writeStaticString("$5\r\nvalue\r\n") }
    var reads: [ByteBuffer] = []
    while whole.readableBytes > 0 {
        let slice = whole.readSlice(length: min(readSize, whole.readableBytes))!
        reads.append(ByteBuffer(bytes: slice.readableBytesView))
    }
    return reads
}
