import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Spillway
import SpillwayProxy
import SpillwayRedis
import SpillwayTesting
import Testing

/// The proxy releases the blob of a spill pointer that a client's command replaces or removes,
/// atomically with the command (a script reports which pointers it replaced), as `ValueSpill`
/// does for Swift callers: no orphan, and never a blob a key still points at.
@Suite("spillway proxy releases replaced blobs, against a real redis-server", .serialized)
struct ProxyReleaseRedisTests {
    static func command(_ arguments: [ByteBuffer]) -> ByteBuffer {
        var buffer = ByteBuffer()
        ProxyRequest(arguments).write(into: &buffer)
        return buffer
    }

    static func s(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
    static func big(_ seed: UInt8) -> ByteBuffer { ByteBuffer(repeating: seed, count: 4096) }
    static let ok = RESPValue.simpleString(ByteBuffer(string: "OK"))

    @Test("overwrites, deletes, GETDEL and expires release the old blob; a condition not met keeps the live blob and drops the new one")
    func release() async throws {
        try await RedisServer.withRedisServer { redis in
            let store = MemoryBlobStore()
            let rules = ProxyRules(policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024)), spill: ProxySpill(ValueSpill(store: store)))
            let server = try ProxyServer(configuration: ProxyConfiguration(listenPort: 0, upstream: RedisConfiguration(port: redis.port)), rules: rules)
            let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.port
                let loop = MultiThreadedEventLoopGroup.singleton.next()
                let client = try await RedisConnection.connect(configuration: RedisConfiguration(port: port, commandTimeout: .seconds(10)), eventLoop: loop)
                let direct = try await RedisConnection.connect(configuration: RedisConfiguration(port: redis.port, commandTimeout: .seconds(10)), eventLoop: loop)
                func send(_ arguments: ByteBuffer...) async throws -> RESPValue { try await client.send(Self.command(arguments)) }

                // An overwrite with another big value: the old blob goes, the new one stays.
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.big(1)) == Self.ok)
                #expect(await store.count == 1)
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.big(2)) == Self.ok)
                #expect(await store.count == 1)
                #expect(try await send(Self.s("GET"), Self.s("a")) == .bulkString(Self.big(2)))
                // An overwrite with a small value, SETEX then DEL, MSET then UNLINK.
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.s("small")) == Self.ok)
                #expect(await store.count == 0)
                #expect(try await send(Self.s("SETEX"), Self.s("b"), Self.s("100"), Self.big(3)) == Self.ok)
                #expect(try await send(Self.s("DEL"), Self.s("b"), Self.s("nothing")) == .integer(1))
                #expect(await store.count == 0)
                #expect(try await send(Self.s("MSET"), Self.s("c"), Self.big(4), Self.s("d"), Self.big(5)) == Self.ok)
                #expect(await store.count == 2)
                #expect(try await send(Self.s("MSET"), Self.s("c"), Self.s("1"), Self.s("e"), Self.s("2")) == Self.ok)
                #expect(await store.count == 1)
                #expect(try await send(Self.s("UNLINK"), Self.s("d")) == .integer(1))
                #expect(await store.count == 0)
                // GETSET and GETDEL answer the old value, resolved, and release its blob.
                _ = try await send(Self.s("SET"), Self.s("g"), Self.big(6))
                #expect(try await send(Self.s("GETSET"), Self.s("g"), Self.big(7)) == .bulkString(Self.big(6)))
                #expect(await store.count == 1)
                #expect(try await send(Self.s("GETDEL"), Self.s("g")) == .bulkString(Self.big(7)))
                #expect(await store.count == 0)
                // A condition not met: the live blob stays, the new blob is dropped.
                _ = try await send(Self.s("SET"), Self.s("f"), Self.big(8))
                #expect(try await send(Self.s("SET"), Self.s("f"), Self.big(9), Self.s("NX")).isNull)
                #expect(try await send(Self.s("SET"), Self.s("missing"), Self.big(9), Self.s("XX"), Self.s("GET")).isNull)
                #expect(try await send(Self.s("SETNX"), Self.s("f"), Self.big(9)) == .integer(0))
                #expect(await store.count == 1)
                #expect(try await send(Self.s("GET"), Self.s("f")) == .bulkString(Self.big(8)))
                // EXPIRE into the past removes the key: its blob goes.
                #expect(try await send(Self.s("EXPIRE"), Self.s("f"), Self.s("-1")) == .integer(1))
                #expect(await store.count == 0)
                // A longer TTL moves the blob's expiry along.
                _ = try await send(Self.s("SET"), Self.s("h"), Self.big(10), Self.s("EX"), Self.s("10"))
                let id = try #require(await store.ids.first)
                let before = try #require(await store.metadata(of: id)?.expiresAt)
                #expect(try await send(Self.s("EXPIRE"), Self.s("h"), Self.s("100000")) == .integer(1))
                let after = try #require(await store.metadata(of: id)?.expiresAt)
                #expect(after > before)
                // A pointer copied under another key is never released by a write to that key.
                let pointer = try #require(try await direct.send(Self.command([Self.s("GET"), Self.s("h")])).bytes)
                _ = try await direct.send(Self.command([Self.s("SET"), Self.s("copy"), pointer]))
                #expect(try await send(Self.s("DEL"), Self.s("copy")) == .integer(1))
                #expect(await store.count == 1)
                #expect(try await send(Self.s("GET"), Self.s("h")) == .bulkString(Self.big(10)))
                // Inside a transaction: the EXEC reply carries each command's own reply.
                #expect(try await send(Self.s("MULTI")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("h"), Self.s("small")) == .simpleString(Self.s("QUEUED")))
                #expect(try await send(Self.s("EXEC")) == .array([Self.ok]))
                #expect(await store.count == 0)
                // At maxmemory a DEL still runs (the script asks for memory only when its command does).
                _ = try await send(Self.s("SET"), Self.s("i"), Self.big(11))
                _ = try await direct.send(Self.command([Self.s("CONFIG"), Self.s("SET"), Self.s("maxmemory"), Self.s("1")]))
                #expect(try await send(Self.s("SET"), Self.s("i"), Self.s("x")) == Self.ok, "shed")
                #expect(await store.count == 1, "a refused overwrite releases nothing")
                #expect(try await send(Self.s("GET"), Self.s("i")) == .bulkString(Self.big(11)))
                #expect(try await send(Self.s("DEL"), Self.s("i")) == .integer(1))
                #expect(await store.count == 0)
                _ = try await direct.send(Self.command([Self.s("CONFIG"), Self.s("SET"), Self.s("maxmemory"), Self.s("0")]))

                await group.triggerGracefulShutdown()
                try await tasks.next()
                await client.close()
                await direct.close()
            }
        }
    }
}
