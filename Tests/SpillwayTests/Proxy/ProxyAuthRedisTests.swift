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

/// `ProxyServer` in front of a `redis-server` with a password (one server for the suite): the
/// proxy authenticates its upstream connections, a client's own `AUTH` goes upstream as sent, a
/// wrong password stops the proxy at start, and after the server restarts the key specifications
/// are read again.
@Suite("spillway proxy in front of a redis-server with a password", .serialized)
struct ProxyAuthRedisTests {
    static func withProxy(
        port: Int, password: String, _ body: (ProxyServer, Int) async throws -> Void
    ) async throws {
        let server = try ProxyServer(
            configuration: ProxyConfiguration(listenPort: 0, upstream: RedisConfiguration(port: port, password: password)),
            rules: ProxyRules(policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 64)))
        )
        let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let proxyPort = try await server.port
            do {
                try await body(server, proxyPort)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
    }

    @Test("upstream AUTH from the URL, client AUTH passed through, a wrong password refuses to start, key specs reread after a restart")
    func auth() async throws {
        try await RedisServer.withRedisServer(RedisServer.Options(password: "s3cret")) { redis in
            try await Self.withProxy(port: redis.port, password: "s3cret") { server, port in
                let client = try await ProxyRedisTests.connect(port)
                #expect(try await client.send(ProxyRedisTests.command(["SET", "a", "1"])) == .simpleString(ByteBuffer(string: "OK")))
                #expect(try await client.send(ProxyRedisTests.command(["AUTH", "wrong"])).errorMessage?.contains("WRONGPASS") == true)
                #expect(try await client.send(ProxyRedisTests.command(["AUTH", "s3cret"])) == .simpleString(ByteBuffer(string: "OK")))
                await client.close()
                #expect(await server.keySpecificationLoads == 1)

                try await redis.restart()
                let again = try await ProxyRedisTests.connect(port)
                let long = String(repeating: "z", count: 300)
                #expect(try await again.send(ProxyRedisTests.command(["SET", long, "v"])) == .simpleString(ByteBuffer(string: "OK")))
                #expect(try await again.send(ProxyRedisTests.command(["GET", long])) == .bulkString(ByteBuffer(string: "v")))
                #expect(await server.keySpecificationLoads == 2)
                await again.close()
            }
            // With the wrong password the proxy refuses to start, naming the refusal.
            let wrong = try ProxyServer(
                configuration: ProxyConfiguration(listenPort: 0, upstream: RedisConfiguration(port: redis.port, password: "not-it")),
                rules: ProxyRules(policies: PolicyTable())
            )
            let error = await #expect(throws: CacheError.self) { try await wrong.run() }
            #expect(error?.message.contains("WRONGPASS") == true)
        }
    }
}
