import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Spillway
import SpillwayProxy
import SpillwayRedis
import SpillwayTesting
import Testing

/// `ProxyServer` in front of a real `redis-server` (one server for the suite, 2 MB maxmemory),
/// driven through `RedisConnection`s pointed at the proxy.
@Suite("spillway proxy in front of a real redis-server", .serialized)
struct ProxyRedisTests {
    static func command(_ arguments: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        ProxyRequest(arguments.map { ByteBuffer(string: $0) }).write(into: &buffer)
        return buffer
    }

    static func connect(_ port: Int, resp3: Bool = false) async throws -> RedisConnection {
        try await RedisConnection.connect(
            configuration: RedisConfiguration(port: port, protocolVersion: resp3 ? .resp3 : .resp2, commandTimeout: .seconds(10)),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
    }

    @Test("transactions, WATCH, pipelines, blocking pops, big keys, big values, OOM and a graceful drain")
    func endToEnd() async throws {
        try await RedisServer.withRedisServer(RedisServer.Options(maxMemory: 2 << 20)) { redis in
            let blobs = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-proxy-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: blobs) }
            let stats = ProxyStats()
            let rules = ProxyRules(
                policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 128, spillAbove: 64 * 1024), prefixes: ["lock:": PolicyOverrides(onOOM: .fail)]),
                spill: ProxySpill(ValueSpill(store: try FileBlobStore(root: blobs))), stats: stats
            )
            let server = try ProxyServer(
                configuration: ProxyConfiguration(listenPort: 0, upstream: RedisConfiguration(port: redis.port)), rules: rules
            )
            let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.port
                let direct = try await Self.connect(redis.port)
                let client = try await Self.connect(port, resp3: true)
                let other = try await Self.connect(port)

                // A pipeline: one write, replies in order.
                var pipeline = Self.command(["SET", "p", "1"])
                pipeline.writeImmutableBuffer(Self.command(["INCR", "p"]))
                pipeline.writeImmutableBuffer(Self.command(["GET", "p"]))
                #expect(try await client.send(pipeline, count: 3) == [.simpleString(ByteBuffer(string: "OK")), .integer(2), .bulkString(ByteBuffer(string: "2"))])

                // MULTI/EXEC on the client's own upstream connection; WATCH sees another client's write.
                #expect(try await client.send(Self.command(["WATCH", "w"])) == .simpleString(ByteBuffer(string: "OK")))
                _ = try await other.send(Self.command(["SET", "w", "changed"]))
                _ = try await client.send(Self.command(["MULTI"]))
                #expect(try await client.send(Self.command(["SET", "w", "mine"])) == .simpleString(ByteBuffer(string: "QUEUED")))
                #expect(try await client.send(Self.command(["EXEC"])).isNull, "WATCH aborted the transaction")
                _ = try await client.send(Self.command(["MULTI"]))
                _ = try await client.send(Self.command(["INCR", "t"]))
                _ = try await client.send(Self.command(["INCR", "t"]))
                #expect(try await client.send(Self.command(["EXEC"])) == .array([.integer(1), .integer(2)]))

                // A 10 KB key arrives hashed: redis holds the short form, and GET through the proxy finds it.
                let longKey = "throttle_" + String(repeating: "k", count: 10 * 1024)
                _ = try await client.send(Self.command(["SET", longKey, "history", "EX", "60"]))
                #expect(try await client.send(Self.command(["GET", longKey])) == .bulkString(ByteBuffer(string: "history")))
                let hashed = KeyHasher().hashed(CacheKey(longKey), maxKeyBytes: 128)
                #expect(try await direct.send(Self.command(["STRLEN", hashed.string])) == .integer(7))
                #expect(try await direct.send(Self.command(["EXISTS", longKey])) == .integer(0))
                // SCAN and KEYS name the hashed key (a documented limitation: hashes cannot be reversed).
                let scan = try await other.send(Self.command(["SCAN", "0", "MATCH", "throttle_*", "COUNT", "1000"]))
                #expect(scan.elements?.last?.elements == [.bulkString(hashed.bytes)])

                // EVAL's KEYS are hashed too.
                let evalKey = try await client.send(Self.command(["EVAL", "return redis.call('STRLEN', KEYS[1])", "1", longKey]))
                #expect(evalKey == .integer(7))

                // SORT … STORE has an incomplete key spec: COMMAND GETKEYS finds the destination.
                _ = try await client.send(Self.command(["RPUSH", "src", "3", "1", "2"]))
                let destination = "sorted:" + String(repeating: "d", count: 300)
                #expect(try await client.send(Self.command(["SORT", "src", "STORE", destination])) == .integer(3))
                let sortedKey = KeyHasher().hashed(CacheKey(destination), maxKeyBytes: 128)
                #expect(try await direct.send(Self.command(["LRANGE", sortedKey.string, "0", "-1"])) == .array(["1", "2", "3"].map { .bulkString(ByteBuffer(string: $0)) }))

                // BLPOP's reply names the client's key, not the hashed one.
                let queue = "queue:" + String(repeating: "j", count: 500)
                _ = try await other.send(Self.command(["RPUSH", queue, "job"]))
                #expect(try await client.send(Self.command(["BLPOP", queue, "1"])) == .array([.bulkString(ByteBuffer(string: queue)), .bulkString(ByteBuffer(string: "job"))]))

                // A 1 MB value is spilled (redis holds a pointer) and read back byte for byte.
                let big = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                var setBig = ByteBuffer()
                ProxyRequest([ByteBuffer(string: "SET"), ByteBuffer(string: "blob"), big]).write(into: &setBig)
                #expect(try await client.send(setBig) == .simpleString(ByteBuffer(string: "OK")))
                let stored = try #require(try await direct.send(Self.command(["STRLEN", "blob"])).int64)
                #expect(stored < 200)
                #expect(try await client.send(Self.command(["GET", "blob"])) == .bulkString(big))
                #expect(try await client.send(Self.command(["MGET", "blob", "p"])) == .array([.bulkString(big), .bulkString(ByteBuffer(string: "2"))]))

                // Redis full: maxmemory below what it holds (noeviction), so every write is refused.
                _ = try await direct.send(Self.command(["CONFIG", "SET", "maxmemory", "1"]))
                #expect(try await direct.send(Self.command(["SET", "x", "y"])).errorMessage?.hasPrefix("OOM") == true)
                // Through the proxy: an unconditional SET is shed (+OK), a lock and an INCR get the error, reads flow.
                #expect(try await client.send(Self.command(["SET", "cache:x", "y", "EX", "10"])) == .simpleString(ByteBuffer(string: "OK")))
                #expect(try await client.send(Self.command(["SET", "lock:x", "y", "NX", "PX", "1000"])).errorMessage?.hasPrefix("OOM") == true)
                #expect(try await client.send(Self.command(["SET", "lock:y", "y"])).errorMessage?.hasPrefix("OOM") == true)
                #expect(try await client.send(Self.command(["INCR", "counter"])).errorMessage?.hasPrefix("OOM") == true)
                #expect(try await client.send(Self.command(["GET", "p"])) == .bulkString(ByteBuffer(string: "2")))
                #expect(stats.count(.writesShed) == 1)
                #expect(stats.count(.keysHashed) >= 4)
                #expect(stats.count(.valuesSpilled) == 1)

                // Graceful shutdown: a blocking pop in flight is answered, then the connection closes.
                let blocked = Task { try await other.send(Self.command(["BLPOP", "empty", "1"])) }
                try await Task.sleep(for: .milliseconds(200))
                await group.triggerGracefulShutdown()
                #expect(try await blocked.value.isNull)
                try await tasks.next()
                await direct.close()
                await client.close()
                await other.close()
                #expect(await (try? Self.connect(port)) == nil, "the proxy no longer accepts connections")
            }
        }
    }
}
