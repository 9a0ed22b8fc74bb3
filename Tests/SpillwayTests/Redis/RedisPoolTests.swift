import NIOCore
import Spillway
@testable import SpillwayRedis
import SpillwayTesting
import Synchronization
import Testing

/// The connection pool's waiters, cancellation and closing, and the client's one retry of an
/// idempotent command whose connection was lost, driven by a scripted fake server (a real Redis
/// does not hang a handshake or drop a connection mid-command on demand; the soak does the
/// same against a real `redis-server` behind the fault proxy).
@Suite("Redis connection pool")
struct RedisPoolTests {
    static let refuseHello = "-ERR unknown command 'HELLO', with args beginning with: '3'\r\n"

    /// A script whose first `hangingHellos` handshakes never get an answer; later ones are
    /// answered (RESP2), and `GET` answers `"v"`.
    static func hangingHandshakes(_ hangingHellos: Int, hellos: Counter) -> StaticRedisServer.Script {
        { args in
            switch args.first {
            case "HELLO":
                let n = hellos.increment()
                return n <= hangingHellos ? .ignore : .reply(refuseHello)
            case "GET": return .reply(StaticRedisServer.bulk("v"))
            default: return .reply("+OK\r\n")
            }
        }
    }

    static func client(_ server: StaticRedisServer, maxConnections: Int = 1) throws -> RedisClient {
        try RedisClient(
            configuration: RedisConfiguration(
                host: "127.0.0.1", port: server.port, connectTimeout: .seconds(120), commandTimeout: .seconds(120),
                maxConnections: maxConnections
            )
        )
    }

    /// Polls `condition` until it holds or 10 s pass (a condition, not a sleep standing in for
    /// time passing).
    static func eventually(
        _ what: String, _ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            if ContinuousClock.now > deadline {
                Issue.record("\(what): not reached in 20 s", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    static func lease(_ client: RedisClient) async -> Result<Int, CacheError> {
        do throws(CacheError) {
            let connection = try await client.pool.lease()
            connection.release()
            return .success(connection.inflight)
        } catch {
            return .failure(error)
        }
    }

    /// A client whose first connect hangs in its handshake (the opener), with `waiters` more
    /// callers queued behind it in the pool.
    static func hangingOpener(
        _ server: StaticRedisServer, hellos: Counter, waiters: Int
    ) async throws -> (client: RedisClient, opener: Task<Result<Int, CacheError>, Never>, waiters: [Task<Result<Int, CacheError>, Never>]) {
        let client = try Self.client(server)
        let opener = Task { await Self.lease(client) }
        try await Self.eventually("the first handshake arrived") { hellos.value == 1 }
        let queued = (0..<waiters).map { _ in Task { await Self.lease(client) } }
        try await Self.eventually("\(waiters) caller(s) wait") { client.pool.waiterCount == waiters }
        return (client, opener, queued)
    }

    @Test("a cancelled waiter leaves the queue at once with cancelled; the opener is not disturbed")
    func cancelledWaiter() async throws {
        let hellos = Counter()
        try await StaticRedisServer.withServer(Self.hangingHandshakes(1, hellos: hellos)) { server in
            let (client, opener, queued) = try await Self.hangingOpener(server, hellos: hellos, waiters: 1)
            let waiter = queued[0]
            waiter.cancel()
            let waited = await waiter.value
            guard case .failure(let error) = waited else { Issue.record("the cancelled waiter got a connection"); return }
            #expect(error.code == .cancelled)
            #expect(client.pool.waiterCount == 0)
            opener.cancel()
            guard case .failure(let openerError) = await opener.value else { Issue.record("the hanging opener connected"); return }
            #expect(openerError.code == .cancelled)
            await client.close()
        }
    }

    @Test("a cancelled opener hands its slot to a waiter, which connects, instead of failing it")
    func cancelledOpenerHandsOver() async throws {
        let hellos = Counter()
        try await StaticRedisServer.withServer(Self.hangingHandshakes(1, hellos: hellos)) { server in
            let (client, opener, queued) = try await Self.hangingOpener(server, hellos: hellos, waiters: 1)
            let waiter = queued[0]
            opener.cancel()
            guard case .failure(let openerError) = await opener.value else { Issue.record("the hanging opener connected"); return }
            #expect(openerError.code == .cancelled)
            // The waiter opened the second connection, whose handshake is answered.
            let waited = await waiter.value
            guard case .success = waited else { Issue.record("the waiter failed: \(waited)"); return }
            #expect(hellos.value == 2)
            #expect(client.connectionCount == 1)
            // And the pool works.
            let value = try await client.execute(.get(CacheKey("k")))
            guard case .value(let v?) = value else { Issue.record("unexpected \(value)"); return }
            #expect(String(buffer: v) == "v")
            await client.close()
        }
    }

    @Test("close() fails waiting callers with connection, promptly")
    func closeFailsWaiters() async throws {
        let hellos = Counter()
        try await StaticRedisServer.withServer(Self.hangingHandshakes(1, hellos: hellos)) { server in
            let (client, opener, waiters) = try await Self.hangingOpener(server, hellos: hellos, waiters: 3)
            await client.close()
            for waiter in waiters {
                guard case .failure(let error) = await waiter.value else { Issue.record("a waiter got a connection after close"); continue }
                #expect(error.code == .connection)
            }
            #expect(client.pool.waiterCount == 0)
            opener.cancel()
            _ = await opener.value
        }
    }

    @Test("a deadline reaches a caller waiting for a connection: a read is a counted miss, not a hang")
    func deadlineWhileWaiting() async throws {
        let hellos = Counter()
        try await StaticRedisServer.withServer(Self.hangingHandshakes(Int.max, hellos: hellos)) { server in
            let client = try Self.client(server)
            let degrade = Degrade<ContinuousClock>()
            let cache = GuardedCache(client: client) { degrade }
            // One caller opens (and hangs in the handshake); the others wait in the pool.
            let started = ContinuousClock.now
            let values = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                for i in 0..<4 {
                    group.addTask {
                        try await cache.execute(.get(CacheKey("k\(i)")), deadline: .now + .milliseconds(300)).value
                    }
                }
                return try await group.reduce(into: [ByteBuffer?]()) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - started
            #expect(values.count == 4 && values.allSatisfy { $0 == nil })
            #expect(degrade.stats.counts.readsDegraded == 4)
            // Well before the connect and command timeouts (120 s here), even on a machine so
            // loaded that the whole test run starves (seen: 20 s for this test under load 19).
            #expect(elapsed < .seconds(60), "took \(elapsed)")
            #expect(client.pool.waiterCount == 0)
            await client.close()
        }
    }

    @Test("an idempotent read whose connection is lost after it was written is sent once more; a SET is not")
    func retryOnceAfterLoss() async throws {
        let gets = Mutex(0)
        let sets = Mutex(0)
        try await StaticRedisServer.withServer({ args in
            switch args.first {
            case "HELLO": return .reply(Self.refuseHello)
            case "GET":
                let n = gets.withLock { n in
                    n += 1
                    return n
                }
                // The first GET is read by the server, which then hangs up without answering.
                return n == 1 ? .replyAndClose("") : .reply(StaticRedisServer.bulk("fresh"))
            case "SET":
                sets.withLock { $0 += 1 }
                return .replyAndClose("")
            case "DEL": return .reply(":1\r\n")
            default: return .reply("+OK\r\n")
            }
        }) { server in
            let client = try Self.client(server, maxConnections: 2)
            let reply = try await client.execute(.get(CacheKey("k")))
            guard case .value(let v?) = reply else { Issue.record("unexpected \(reply)"); return }
            #expect(String(buffer: v) == "fresh")
            #expect(gets.withLock { $0 } == 2)
            #expect(client.retriedCommands == 1)
            // A SET is not idempotent in general (NX, GET): the loss is reported, not retried.
            await #expect(throws: CacheError.self) {
                _ = try await client.execute(.set(CacheKey("k"), ByteBuffer(string: "x"), SetOptions()))
            }
            #expect(sets.withLock { $0 } == 1)
            #expect(client.retriedCommands == 1)
            await client.close()
        }
    }
}

extension RedisPoolTests {
    @Test("a read lost with every pooled connection at once (a mass reset) is resent until a fresh connection answers")
    func retryAcrossAMassReset() async throws {
        let gets = Counter()
        try await StaticRedisServer.withServer({ args in
            switch args.first {
            case "HELLO": return .reply(Self.refuseHello)
            // The server hangs up on the first two GETs: both old connections are cut.
            case "GET": return gets.increment() <= 2 ? .replyAndClose("") : .reply(StaticRedisServer.bulk("fresh"))
            default: return .reply("+OK\r\n")
            }
        }) { server in
            let client = try Self.client(server, maxConnections: 2)
            // Two connections, both opened before the loss.
            let a = try await client.pool.lease()
            let b = try await client.pool.lease()
            a.release()
            b.release()
            try #require(client.connectionCount == 2 && a !== b)
            let reply = try await client.execute(.get(CacheKey("k")))
            guard case .value(let v?) = reply else { Issue.record("unexpected \(reply)"); return }
            #expect(String(buffer: v) == "fresh")
            #expect(gets.value == 3, "sent on both old connections, then on a fresh one")
            #expect(client.retriedCommands == 2)
            await client.close()
        }
    }
}

/// The retry of an idempotent command against a real `redis-server`, with a fault proxy that
/// swallows the reply and then resets the connection: the command did run on the server.
@Suite("Redis retry after a lost connection, on a real server")
struct RedisRetryRealServerTests {
    /// Runs `operation` while the proxy drops replies; once the server's reply was dropped
    /// (the command ran), heals the proxy and resets every connection.
    static func lostAfterWrite(
        _ client: RedisClient, _ proxy: FaultProxy, _ operation: @escaping @Sendable () async throws -> CacheReply
    ) async throws -> CacheReply {
        _ = try await client.send("PING")
        let dropped = proxy.bytesDropped(.downstream)
        proxy.update(.downstream) { $0.blackhole = true }
        let running = Task { try await operation() }
        try await RedisPoolTests.eventually("the reply was dropped") { proxy.bytesDropped(.downstream) > dropped }
        await proxy.heal()
        #expect(await proxy.resetAll() >= 1)
        return try await running.value
    }

    @Test("a GET and a DEL whose replies were lost to a reset are sent once more and answer")
    func retriedOnRealServer() async throws {
        try await RedisServer.withRedisServer { server in
            try await FaultProxy.withProxy(targetPort: server.port) { proxy in
                let client = try RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: proxy.port, maxConnections: 1))
                let direct = try server.makeClient()
                _ = try await direct.execute(.set(CacheKey("k"), ByteBuffer(string: "value"), SetOptions()))

                let got = try await Self.lostAfterWrite(client, proxy) { try await client.execute(.get(CacheKey("k"))) }
                guard case .value(let v?) = got else { Issue.record("unexpected \(got)"); return }
                #expect(String(buffer: v) == "value")
                #expect(client.retriedCommands == 1)

                let deleted = try await Self.lostAfterWrite(client, proxy) { try await client.execute(.delete(CacheKey("k"))) }
                // The first DEL ran (its reply was lost), so the resent one finds nothing.
                guard case .count(let n) = deleted else { Issue.record("unexpected \(deleted)"); return }
                #expect(n == 0)
                #expect(client.retriedCommands == 2)
                let after = try await direct.execute(.get(CacheKey("k")))
                guard case .value(nil) = after else { Issue.record("the key survived: \(after)"); return }
                await client.close()
                await direct.close()
            }
        }
    }
}

extension RedisRetryRealServerTests {
    @Test("a deadline reaches callers stuck connecting to a real server behind a holding proxy; reads are counted misses, then it recovers")
    func deadlineWhileConnectingToRealServer() async throws {
        try await RedisServer.withRedisServer { server in
            try await FaultProxy.withProxy(targetPort: server.port) { proxy in
                let direct = try server.makeClient()
                _ = try await direct.execute(.set(CacheKey("k"), ByteBuffer(string: "value"), SetOptions()))
                await proxy.setAcceptMode(.hold)
                let client = try RedisClient(
                    configuration: RedisConfiguration(
                        host: "127.0.0.1", port: proxy.port, connectTimeout: .seconds(120), commandTimeout: .seconds(120), maxConnections: 1
                    )
                )
                let degrade = Degrade<ContinuousClock>()
                let cache = GuardedCache(client: client) { degrade }
                let started = ContinuousClock.now
                let misses = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            let reply = try await cache.execute(.get(CacheKey("k")), deadline: .now + .milliseconds(300))
                            guard case .value(nil) = reply else { return false }
                            return true
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(misses == 3)
                #expect(degrade.stats.counts.readsDegraded == 3)
                #expect(ContinuousClock.now - started < .seconds(60), "the 120 s connect timeout did not decide")
                await proxy.setAcceptMode(.forward)
                let reply = try await cache.execute(.get(CacheKey("k")), deadline: .now + .seconds(10))
                guard case .value(let v?) = reply else { Issue.record("unexpected \(reply)"); return }
                #expect(String(buffer: v) == "value")
                await client.close()
                await direct.close()
            }
        }
    }
}

extension CacheReply {
    fileprivate var value: ByteBuffer? {
        get throws {
            guard case .value(let v) = self else { throw CacheError(.protocolError, "not a value: \(self)") }
            return v
        }
    }
}

/// A count shared with a server script.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    /// Adds one and returns the new count.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}
