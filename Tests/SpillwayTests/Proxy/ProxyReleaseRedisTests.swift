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

    @Test("each overwrite and delete in the proxy's own MULTI: WRONGTYPE, NX/XX, EX/KEEPTTL, raw values, pipelines; WATCH and MULTI keep the script and their meaning")
    func transactionFraming() async throws {
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
                func upstream(_ arguments: ByteBuffer...) async throws -> RESPValue { try await direct.send(Self.command(arguments)) }

                // A plain SET overwrites a list (its GETRANGE fails inside the MULTI, the SET runs);
                // SET … GET on a list answers WRONGTYPE and leaves it, as Redis does.
                _ = try await upstream(Self.s("RPUSH"), Self.s("l"), Self.s("x"))
                #expect(try await send(Self.s("SET"), Self.s("l"), Self.big(1)) == Self.ok)
                #expect(try await send(Self.s("GET"), Self.s("l")) == .bulkString(Self.big(1)))
                #expect(await store.count == 1)
                _ = try await upstream(Self.s("RPUSH"), Self.s("l2"), Self.s("x"))
                let wrongType = try await send(Self.s("SET"), Self.s("l2"), Self.s("v"), Self.s("GET"))
                #expect(wrongType.errorMessage?.hasPrefix("WRONGTYPE") == true)
                #expect(try await upstream(Self.s("TYPE"), Self.s("l2")) == .simpleString(Self.s("list")))
                #expect(try await send(Self.s("HSET"), Self.s("l"), Self.s("f"), Self.s("v")).errorMessage?.hasPrefix("WRONGTYPE") == true)
                // XX on a missing key stores nothing; on the spilled key it replaces and releases.
                #expect(try await send(Self.s("SET"), Self.s("missing"), Self.s("v"), Self.s("XX")).isNull)
                #expect(try await send(Self.s("SET"), Self.s("l"), Self.s("small"), Self.s("XX")) == Self.ok)
                #expect(await store.count == 0)
                // NX on a live spilled value: refused, the live blob stays.
                _ = try await send(Self.s("SET"), Self.s("n"), Self.big(2))
                #expect(try await send(Self.s("SET"), Self.s("n"), Self.s("v"), Self.s("NX")).isNull)
                #expect(await store.count == 1)
                // EX then KEEPTTL: the TTL is kept, the old blob released, the new one kept.
                #expect(try await send(Self.s("SET"), Self.s("n"), Self.big(3), Self.s("EX"), Self.s("100")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("n"), Self.big(4), Self.s("KEEPTTL")) == Self.ok)
                #expect(await store.count == 1)
                guard case .integer(let ttl) = try await upstream(Self.s("TTL"), Self.s("n")) else { throw CacheError(.protocolError, "TTL") }
                #expect(ttl > 90 && ttl <= 100)
                #expect(try await send(Self.s("GET"), Self.s("n")) == .bulkString(Self.big(4)))
                #expect(try await send(Self.s("PSETEX"), Self.s("n"), Self.s("50000"), Self.s("small")) == Self.ok)
                #expect(await store.count == 0)
                // A raw value (also one that starts with the envelope magic) releases nothing and
                // reads back unchanged.
                var magic = ByteBuffer(bytes: SpillEnvelope.magic)
                magic.writeString("raw")
                _ = try await send(Self.s("SET"), Self.s("r"), Self.big(5))
                #expect(try await send(Self.s("SET"), Self.s("raw"), magic) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("raw"), Self.s("other")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("raw2"), Self.s("plain")) == Self.ok)
                #expect(try await send(Self.s("DEL"), Self.s("raw2"), Self.s("raw")) == .integer(2))
                #expect(await store.count == 1)
                // A pipeline: every reply in its place, each overwrite released.
                var pipeline = Self.command([Self.s("SET"), Self.s("r"), Self.big(6)])
                pipeline.writeImmutableBuffer(Self.command([Self.s("GET"), Self.s("r")]))
                pipeline.writeImmutableBuffer(Self.command([Self.s("SET"), Self.s("r"), Self.s("1")]))
                pipeline.writeImmutableBuffer(Self.command([Self.s("INCR"), Self.s("r")]))
                pipeline.writeImmutableBuffer(Self.command([Self.s("MSET"), Self.s("r"), Self.big(7), Self.s("q"), Self.big(8)]))
                pipeline.writeImmutableBuffer(Self.command([Self.s("UNLINK"), Self.s("q")]))
                pipeline.writeImmutableBuffer(Self.command([Self.s("GET"), Self.s("r")]))
                #expect(
                    try await client.send(pipeline, count: 7) == [Self.ok, .bulkString(Self.big(6)), Self.ok, .integer(2), Self.ok, .integer(1), .bulkString(Self.big(7))]
                )
                #expect(await store.count == 1)
                // Inside the client's MULTI (the script): the EXEC reply carries each command's own reply.
                #expect(try await send(Self.s("MULTI")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("r"), Self.big(9)) == .simpleString(Self.s("QUEUED")))
                #expect(try await send(Self.s("GETSET"), Self.s("r"), Self.s("small")) == .simpleString(Self.s("QUEUED")))
                #expect(try await send(Self.s("EXEC")) == .array([Self.ok, .bulkString(Self.big(9))]))
                #expect(await store.count == 0)
                // WATCH keeps its meaning: a SET between WATCH and MULTI does not drop the watch.
                _ = try await send(Self.s("SET"), Self.s("w"), Self.big(10))
                #expect(try await send(Self.s("WATCH"), Self.s("w")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("other"), Self.big(11)) == Self.ok)
                _ = try await upstream(Self.s("SET"), Self.s("w"), Self.s("changed"))
                #expect(try await send(Self.s("MULTI")) == Self.ok)
                _ = try await send(Self.s("SET"), Self.s("w"), Self.s("mine"))
                #expect(try await send(Self.s("EXEC")).isNull, "the watched key changed: the transaction is aborted")
                #expect(try await upstream(Self.s("GET"), Self.s("w")) == .bulkString(Self.s("changed")))
                // After EXEC nothing is watched: the MULTI framing again, and it releases.
                #expect(try await send(Self.s("SET"), Self.s("other"), Self.s("small")) == Self.ok)
                #expect(await store.count == 1, "w's blob is left to the sweeper: a write outside the proxy replaced it")

                await group.triggerGracefulShutdown()
                try await tasks.next()
                await client.close()
                await direct.close()
            }
        }
    }

    @Test("connected as an ACL user without MULTI, an overwrite still gets its own reply; its old blob is left to the sweeper")
    func withoutMulti() async throws {
        try await RedisServer.withRedisServer { redis in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let direct = try await RedisConnection.connect(configuration: RedisConfiguration(port: redis.port, commandTimeout: .seconds(10)), eventLoop: loop)
            let acl = [Self.s("ACL"), Self.s("SETUSER"), Self.s("nomulti"), Self.s("on"), Self.s(">pw"), Self.s("~*"), Self.s("&*"), Self.s("+@all"), Self.s("-multi")]
            #expect(try await direct.send(Self.command(acl)) == Self.ok)
            let store = MemoryBlobStore()
            let rules = ProxyRules(policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024)), spill: ProxySpill(ValueSpill(store: store)))
            let upstream = RedisConfiguration(port: redis.port, username: "nomulti", password: "pw")
            let server = try ProxyServer(configuration: ProxyConfiguration(listenPort: 0, upstream: upstream), rules: rules)
            let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.port
                let client = try await RedisConnection.connect(configuration: RedisConfiguration(port: port, commandTimeout: .seconds(10)), eventLoop: loop)
                func send(_ arguments: ByteBuffer...) async throws -> RESPValue { try await client.send(Self.command(arguments)) }
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.big(1)) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.s("small")) == Self.ok)
                #expect(try await send(Self.s("GET"), Self.s("a")) == .bulkString(Self.s("small")))
                #expect(try await send(Self.s("SET"), Self.s("a"), Self.s("v"), Self.s("XX")) == Self.ok)
                #expect(try await send(Self.s("SET"), Self.s("missing"), Self.s("v"), Self.s("XX")).isNull)
                #expect(await store.count == 1, "not released: the GETRANGE and the SET ran apart")
                await group.triggerGracefulShutdown()
                try await tasks.next()
                await client.close()
            }
            await direct.close()
        }
    }
}
