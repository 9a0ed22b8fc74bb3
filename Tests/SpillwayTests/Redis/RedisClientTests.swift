import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The client against a real `redis-server` started by each test.
@Suite("Redis client on a real server")
struct RedisClientTests {
    func withClient<R>(
        _ options: RedisServer.Options = RedisServer.Options(),
        configure: (inout RedisConfiguration) -> Void = { _ in },
        _ body: (RedisServer, RedisClient) async throws -> R
    ) async throws -> R {
        try await RedisServer.withRedisServer(options) { server in
            let client = try server.makeClient(configure)
            do {
                let result = try await body(server, client)
                await client.close()
                return result
            } catch {
                await client.close()
                throw error
            }
        }
    }

    @Test("RESP3 is negotiated, RESP2 works when asked for")
    func protocols() async throws {
        try await withClient { server, client in
            #expect(try await client.send("PING") == .simpleString(ByteBuffer(string: "PONG")))
            let hello = try await client.send("HELLO")
            guard case .map(let entries) = hello else { Issue.record("HELLO replied \(hello)"); return }
            #expect(entries.contains { $0.key.string == "proto" && $0.value == .integer(3) })

            let resp2 = try server.makeClient { $0.protocolVersion = .resp2 }
            _ = try await resp2.execute(.set("k", ByteBuffer(string: "v"), SetOptions()))
            guard case .value(let value) = try await resp2.execute(.get("k")) else { Issue.record("get"); return }
            #expect(value == ByteBuffer(string: "v"))
            guard case .value(let missing) = try await resp2.execute(.get("nope")) else { Issue.record("get"); return }
            #expect(missing == nil)
            let stats = try await resp2.memoryStats()
            #expect(stats.keyCount == 1)
            await resp2.close()
        }
    }

    @Test("AUTH with a password, with an ACL user, and a refusal")
    func auth() async throws {
        let options = RedisServer.Options(password: "s3cret", extraArguments: ["--user", "alice", "on", ">wonder land", "~*", "&*", "+@all"])
        try await withClient(options) { server, client in
            #expect(try await client.send("PING") == .simpleString(ByteBuffer(string: "PONG")))
            #expect(try await client.send("ACL", "WHOAMI").string == "default")

            let alice = try RedisClient(url: "redis://alice:wonder%20land@127.0.0.1:\(server.port)")
            #expect(try await alice.send("ACL", "WHOAMI").string == "alice")
            await alice.close()

            let alice2 = try server.makeClient {
                $0.username = "alice"
                $0.password = "wonder land"
                $0.protocolVersion = .resp2
            }
            #expect(try await alice2.send("ACL", "WHOAMI").string == "alice")
            await alice2.close()

            let wrong = try RedisClient(url: "redis://:nope@127.0.0.1:\(server.port)")
            do {
                _ = try await wrong.send("PING")
                Issue.record("a wrong password must be refused")
            } catch let error as CacheError {
                #expect(error.code == .connection)
                #expect(error.message.contains("WRONGPASS"))
            }
            await wrong.close()

            let anonymous = try RedisClient(url: "redis://127.0.0.1:\(server.port)")
            do {
                _ = try await anonymous.send("GET", "x")
                Issue.record("no password must be refused")
            } catch let error as CacheError {
                #expect(error.code == .connection)
                #expect(error.message.contains("NOAUTH"))
            }
            await anonymous.close()
        }
    }

    @Test("the URL's database is selected")
    func select() async throws {
        try await withClient { server, client in
            let db3 = try RedisClient(url: "redis://127.0.0.1:\(server.port)/3")
            _ = try await db3.execute(.set("only-in-3", ByteBuffer(string: "x"), SetOptions()))
            #expect(try await db3.memoryStats().keyCount == 1)
            #expect(try await client.memoryStats().keyCount == 0)
            #expect(try await client.send("SELECT", 3) == .simpleString(ByteBuffer(string: "OK")))
            await db3.close()
        }
    }

    @Test("many concurrent commands over few connections each get their own reply")
    func pipelining() async throws {
        try await withClient(configure: { $0.maxConnections = 2 }) { _, client in
            let pairs = (0..<300).map { KeyValue(CacheKey("p:\($0)"), ByteBuffer(string: "value-\($0)")) }
            _ = try await client.execute(.mset(pairs, ttl: nil))
            try await withThrowingTaskGroup(of: (Int, ByteBuffer?).self) { group in
                for i in 0..<300 {
                    group.addTask {
                        guard case .value(let v) = try await client.execute(.get(CacheKey("p:\(i)"))) else { return (i, nil) }
                        return (i, v)
                    }
                }
                for try await (i, value) in group {
                    #expect(value == ByteBuffer(string: "value-\(i)"))
                }
            }
            #expect(client.connectionCount <= 2)
            let replies = try await client.pipeline([["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["HGET", "a", "f"]])
            #expect(replies.count == 4)
            #expect(replies[1] == .integer(2))
            #expect(replies[2].string == "2")
            #expect(replies[3].errorMessage?.hasPrefix("WRONGTYPE") == true)
        }
    }

    @Test("cancelled commands do not desynchronise the pool")
    func cancellationStorm() async throws {
        try await withClient(configure: { $0.maxConnections = 1 }) { _, client in
            for i in 0..<50 { _ = try await client.execute(.set(CacheKey("c:\(i)"), ByteBuffer(string: "\(i)"), SetOptions())) }
            for round in 0..<5 {
                await withTaskGroup(of: Void.self) { group in
                    for i in 0..<50 {
                        group.addTask {
                            let reply = try? await client.execute(.get(CacheKey("c:\(i)")))
                            if case .value(let v) = reply { #expect(v == ByteBuffer(string: "\(i)"), "round \(round)") }
                        }
                    }
                    group.cancelAll()
                }
            }
            for i in 0..<50 {
                guard case .value(let v) = try await client.execute(.get(CacheKey("c:\(i)"))) else { Issue.record("get"); continue }
                #expect(v == ByteBuffer(string: "\(i)"))
            }
        }
    }

    @Test("the pool recovers after a server restart")
    func restart() async throws {
        try await withClient(configure: { $0.connectTimeout = .seconds(2) }) { server, client in
            _ = try await client.execute(.set("before", ByteBuffer(string: "1"), SetOptions()))
            await server.stop()
            do {
                _ = try await client.execute(.get("before"))
                Issue.record("a stopped server must fail the command")
            } catch let error as CacheError {
                #expect(error.code == .connection)
            }
            try await server.restart()
            var recovered = false
            for _ in 0..<3 where !recovered {
                do {
                    guard case .value(let v) = try await client.execute(.get("before")) else { continue }
                    #expect(v == nil, "the restarted server has no data (no persistence)")
                    recovered = true
                } catch let error as CacheError {
                    #expect(error.code == .connection)
                }
            }
            #expect(recovered)
        }
    }

    @Test("Redis error replies map to codes")
    func errorMapping() async throws {
        #expect(CacheError.redisReply(CacheError.redisOOMMessage).code == .outOfMemory)
        #expect(CacheError.redisReply("LOADING Redis is loading the dataset in memory").code == .busy)
        #expect(CacheError.redisReply("BUSY Redis is busy running a script.").code == .busy)
        #expect(CacheError.redisReply("EXECABORT Transaction discarded because of previous errors.").code == .execAbort)
        #expect(CacheError.redisReply("NOSCRIPT No matching script.").code == .noScript)
        #expect(CacheError.redisReply("BUSYKEY Target key name already exists.").code == .other)
        let wrongType = CacheError.redisReply("WRONGTYPE Operation against a key holding the wrong kind of value")
        #expect(wrongType.code == .other)
        #expect(wrongType.message.hasPrefix("WRONGTYPE"))
        try await withClient { _, client in
            _ = try await client.send("HSET", "h", "f", "v")
            do {
                _ = try await client.execute(.get("h"))
                Issue.record("GET on a hash must fail")
            } catch let error as CacheError {
                #expect(error.code == .other)
                #expect(error.message.hasPrefix("WRONGTYPE"))
            }
            do {
                _ = try await client.send("EVALSHA", "0000000000000000000000000000000000000000", 0)
                Issue.record("unknown script")
            } catch let error as CacheError {
                #expect(error.code == .noScript)
            }
            _ = try await client.send("MULTI")
            _ = try? await client.send("NOSUCHCOMMAND")
            do {
                _ = try await client.send("EXEC")
            } catch let error as CacheError {
                // A pooled client may run EXEC on another connection: then it is "EXEC without MULTI".
                #expect(error.code == .execAbort || error.message.contains("without MULTI"))
            }
        }
    }

    @Test("a reply above maxReplyBytes fails its command with tooLarge, and the next command runs on a fresh connection")
    func replyCap() async throws {
        try await withClient(configure: {
            $0.decoderLimits.maxReplyBytes = 64 * 1024
            $0.maxConnections = 1
        }) { _, client in
            _ = try await client.execute(.set("big", ByteBuffer(repeating: 0x61, count: 100_000), SetOptions()))
            _ = try await client.execute(.set("small", ByteBuffer(string: "ok"), SetOptions()))
            await #expect {
                _ = try await client.execute(.get("big"))
            } throws: { error in
                (error as? CacheError)?.code == .tooLarge
            }
            guard case .value(let small) = try await client.execute(.get("small")) else { Issue.record("get"); return }
            #expect(small == ByteBuffer(string: "ok"))
            // 4,000 nulls are 12-20 KB on the wire but cost about 110 KB decoded (24 bytes a value).
            let keys = (0..<4000).map { CacheKey("missing:\($0)") }
            await #expect {
                _ = try await client.execute(.mget(keys))
            } throws: { error in
                (error as? CacheError)?.code == .tooLarge
            }
            guard case .values(let few) = try await client.execute(.mget(Array(keys.prefix(100)))) else { Issue.record("mget"); return }
            #expect(few.count == 100 && few.allSatisfy { $0 == nil })
        }
    }

    @Test("as a Service, the client serves until graceful shutdown, then run() closes it")
    func service() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient()
            let group = ServiceGroup(services: [client], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                #expect(try await client.send("PING") == .simpleString(ByteBuffer(string: "PONG")))
                #expect(client.connectionCount == 1)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(client.connectionCount == 0)
            await #expect {
                _ = try await client.send("PING")
            } throws: { error in
                (error as? CacheError)?.code == .connection
            }
        }
    }

    @Test("a configuration never shows its password: description, debugDescription, dump")
    func redaction() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:hunter2-s3cret@cache.internal:6380/2")
        #expect(configuration.password == "hunter2-s3cret")
        let described = "\(configuration)"
        #expect(!described.contains("hunter2-s3cret"))
        #expect(described.contains("cache.internal") && described.contains("alice") && described.contains("<redacted>"))
        #expect(!String(reflecting: configuration).contains("hunter2-s3cret"))
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("hunter2-s3cret") && dumped.contains("cache.internal"))
        let client = try RedisClient(configuration: configuration)
        #expect(!"\(client.configuration)".contains("hunter2-s3cret"))
    }

    @Test("TLS: at least 1.2 whatever is configured, and ca_file from the URL")
    func tlsSettings() throws {
        let plain = try RedisConfiguration(url: "rediss://127.0.0.1:6380")
        #expect(plain.effectiveTLS?.minimumTLSVersion == .tlsv12)
        var old = plain
        old.tls?.minimumTLSVersion = .tlsv1
        #expect(old.effectiveTLS?.minimumTLSVersion == .tlsv12)
        old.tls?.minimumTLSVersion = .tlsv13
        #expect(old.effectiveTLS?.minimumTLSVersion == .tlsv13)
        let withCA = try RedisConfiguration(url: "rediss://127.0.0.1:6380/1?ca_file=/etc/redis/ca%20file.pem")
        #expect(withCA.tlsCAFile == "/etc/redis/ca file.pem" && withCA.database == 1)
        #expect(withCA.effectiveTLS?.trustRoots == .file("/etc/redis/ca file.pem"))
        #expect(throws: CacheError.self) { try RedisConfiguration(url: "redis://127.0.0.1?ca_file=/x.pem") }
        #expect(throws: CacheError.self) { try RedisConfiguration(url: "rediss://127.0.0.1?nope=1") }
        #expect(try RedisConfiguration(url: "redis://127.0.0.1:6379").effectiveTLS == nil)
    }

    @Test("memoryStats reads INFO memory and DBSIZE")
    func memoryStats() async throws {
        try await withClient(RedisServer.Options(maxMemory: 10 * 1024 * 1024)) { _, client in
            _ = try await client.execute(.set("a", ByteBuffer(string: "1"), SetOptions()))
            let stats = try await client.memoryStats()
            #expect(stats.maxBytes == 10 * 1024 * 1024)
            #expect(stats.usedBytes > 100_000)
            #expect(stats.keyCount == 1)
        }
    }

    @Test("set with TTL, KEEPTTL and increment's TTL-on-create land on the server")
    func ttls() async throws {
        try await withClient { _, client in
            _ = try await client.execute(.set("t", ByteBuffer(string: "1"), SetOptions(expiry: .after(.seconds(100)))))
            _ = try await client.execute(.set("t", ByteBuffer(string: "2"), SetOptions(expiry: .keep)))
            let kept = try #require(try await client.send("PTTL", "t").int64)
            #expect(kept > 90_000 && kept <= 100_000)
            _ = try await client.execute(.increment("n", by: 1, ttlOnCreate: .seconds(50)))
            _ = try await client.send("PERSIST", "n")
            _ = try await client.execute(.increment("n", by: 1, ttlOnCreate: .seconds(50)))
            #expect(try await client.send("PTTL", "n") == .integer(-1), "the TTL applies only on create")
            _ = try await client.execute(.mset([KeyValue("m", ByteBuffer(string: "x"))], ttl: .seconds(100)))
            let mttl = try #require(try await client.send("PTTL", "m").int64)
            #expect(mttl > 50_000 && mttl <= 100_000)
        }
    }

    @Test("the GCRA script decides exactly as GCRA.step, step by step")
    func gcraParity() async throws {
        try await withClient { _, client in
            var generator = SplitMix64(seed: 7)
            let base: Int64 = 1_764_000_000 * 1_000_000_000
            for trial in 0..<20 {
                // Intervals of seconds plus odd nanoseconds: the server's TTLs (real time) then
                // outlast the test, while the arithmetic is still exercised to the nanosecond.
                let interval = 60_000_000_000 + Int64(generator.next() % 20_000_000_000)
                let parameters = GCRAParameters(
                    emissionInterval: .nanoseconds(interval),
                    capacity: Int(generator.next() % 10) + 1,
                    cost: Int(generator.next() % 3) + 1
                )
                let key = "gcra:\(trial)"
                var now = base + Int64(generator.next() % 1_000_000_000_000)
                var stored: Int64?
                for step in 0..<40 {
                    now += Int64(generator.next() % UInt64(interval * 2))
                    let expected = GCRA.step(storedTAT: stored, now: now, parameters: parameters)
                    let reply = try await client.send(
                        "EVAL", RedisScripts.gcra, 1, key, parameters.emissionInterval.nanoseconds, parameters.capacity, parameters.cost,
                        now / 1_000_000_000, now % 1_000_000_000
                    )
                    let values = try #require(reply.elements.map { $0.compactMap(\.int64) })
                    let decision = GCRADecision(
                        allowed: values[0] == 1, remaining: Int(values[1]), retryAfter: .nanoseconds(values[2]), resetAfter: .nanoseconds(values[3])
                    )
                    #expect(decision == expected.decision, "trial \(trial) step \(step)")
                    if let newTAT = expected.newTAT { stored = newTAT }
                    let serverTAT = try await client.send("GET", key).int64
                    #expect(serverTAT == stored, "trial \(trial) step \(step)")
                }
            }
        }
    }

    @Test("throttle survives SCRIPT FLUSH by falling back to EVAL")
    func noScriptFallback() async throws {
        try await withClient { _, client in
            let parameters = GCRAParameters(limit: 10, period: .seconds(60))
            _ = try await client.execute(.throttle("rl", parameters))
            _ = try await client.send("SCRIPT", "FLUSH")
            guard case .throttle(let decision) = try await client.execute(.throttle("rl", parameters)) else { Issue.record("throttle"); return }
            #expect(decision.allowed)
            #expect(decision.remaining == 8)
        }
    }

    @Test("URLs parse into configurations")
    func urls() throws {
        let full = try RedisConfiguration(url: "rediss://u%40x:p%3Ass@cache.example:6380/2")
        #expect(full.host == "cache.example")
        #expect(full.port == 6380)
        #expect(full.username == "u@x")
        #expect(full.password == "p:ss")
        #expect(full.database == 2)
        #expect(full.tls != nil)
        let v6 = try RedisConfiguration(url: "redis://[::1]:7000")
        #expect(v6.host == "::1")
        #expect(v6.port == 7000)
        #expect(v6.tls == nil)
        let passwordOnly = try RedisConfiguration(url: "redis://:pw@localhost")
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == "pw")
        #expect(passwordOnly.port == 6379)
        for bad in ["http://x", "redis://h:99999", "redis://h/x", "redis://[::1", "redis://h:1/-1"] {
            #expect(throws: CacheError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }

    @Test("redis-server missing is a loud error, not a skip")
    func missingServer() async throws {
        await #expect(throws: RedisServerError.self) {
            try await RedisServer.withRedisServer(RedisServer.Options(executable: "/nonexistent/redis-server")) { _ in }
        }
    }
}
