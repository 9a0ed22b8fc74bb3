import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The proxy between the Redis client and a real `redis-server`: network faults become the
/// typed errors and degradations the rest of Spillway expects, and never wrong bytes.
@Suite("FaultProxy in front of a real redis-server")
struct FaultProxyRedisTests {
    /// Runs `body` with a server, a proxy in front of it and a client through the proxy. The
    /// timeout is generous (a loaded CI machine) except where a test waits for it on purpose.
    private func withProxiedRedis(
        commandTimeout: Duration = .seconds(5), _ body: (RedisServer, FaultProxy, RedisClient) async throws -> Void
    ) async throws {
        try await RedisServer.withRedisServer { server in
            try await FaultProxy.withProxy(targetPort: server.port) { proxy in
                let client = try server.makeClient {
                    $0.port = proxy.port
                    $0.commandTimeout = commandTimeout
                    $0.connectTimeout = .seconds(5)
                }
                do {
                    try await body(server, proxy, client)
                    await client.close()
                } catch {
                    await client.close()
                    throw error
                }
            }
        }
    }

    private static let payload = ByteBuffer(bytes: (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })

    @Test("replies sliced into single bytes decode to the same values")
    func slicedReplies() async throws {
        try await withProxiedRedis { _, proxy, client in
            proxy.update(.downstream) { $0.sliceSize = 1 }
            let value = ByteBuffer(bytes: (0..<300).map { UInt8(truncatingIfNeeded: $0) })
            _ = try await client.execute(.set("k", value, SetOptions()))
            #expect(try await client.execute(.get("k")).valueBytes == value)
            #expect(try await client.execute(.increment("n", by: 41, ttlOnCreate: nil)).integerValue == 41)
            #expect(proxy.bytesForwarded(.downstream) > 300)
        }
    }

    @Test("a reset surfaces as .connection at most once, then the client reconnects")
    func resetThenReconnect() async throws {
        try await withProxiedRedis { _, proxy, client in
            _ = try await client.execute(.set("k", ByteBuffer(string: "v"), SetOptions()))
            #expect(await proxy.resetAll() >= 1)
            var failures: [CacheError.Code] = []
            var value: ByteBuffer??
            for _ in 0..<3 where value == nil {
                do {
                    value = .some(try await client.execute(.get("k")).valueBytes)
                } catch {
                    failures.append((error as? CacheError)?.code ?? .other)
                }
            }
            #expect(value == .some(ByteBuffer(string: "v")))
            #expect(failures.allSatisfy { $0 == .connection }, "failures: \(failures)")
            #expect(proxy.acceptedConnections >= 2)
        }
    }

    @Test("a blackhole on replies becomes .timeout")
    func blackholeTimesOut() async throws {
        try await withProxiedRedis(commandTimeout: .milliseconds(500)) { _, proxy, client in
            _ = try await client.execute(.set("k", ByteBuffer(string: "v"), SetOptions()))
            proxy.update(.downstream) { $0.blackhole = true }
            let error = await cacheError { () async throws(CacheError) in try await client.execute(.get("k")) }
            #expect(error?.code == .timeout)
        }
    }

    @Test("a connection cut in the middle of a reply is an error, never a truncated value")
    func cutMidReply() async throws {
        try await withProxiedRedis { _, proxy, client in
            _ = try await client.execute(.set("big", Self.payload, SetOptions()))
            proxy.update(.downstream) { $0.resetAfterBytes = 1_000 }
            let error = await cacheError { () async throws(CacheError) in try await client.execute(.get("big")) }
            #expect(error?.code == .connection)
            await proxy.heal()
            #expect(try await client.execute(.get("big")).valueBytes == Self.payload)
        }
    }

    @Test("behind GuardedCache with shed, a write cut mid-command is reported dropped, never thrown")
    func shedThroughResets() async throws {
        try await withProxiedRedis { _, proxy, client in
            let policies = PolicyTable(defaults: CachePolicy(onOOM: .shed, onFailure: [.connection: .shed, .timeout: .shed]))
            let cache = GuardedCache(client: client, policies: policies) { Degrade<ContinuousClock>() }
            #expect(try await cache.set("k", value: ByteBuffer(string: "old")) == .stored)
            proxy.update(.upstream) { $0.resetAfterBytes = 10 }
            let outcome = try await cache.set("k", value: ByteBuffer(string: "new"))
            #expect(outcome == .dropped(.connection) || outcome == .dropped(.timeout), "got \(outcome)")
            await proxy.heal()
            #expect(try await cache.get("k") == ByteBuffer(string: "old"))
        }
    }
}
