import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Protocol failures driven by a scripted fake server.
@Suite("Redis connection")
struct RedisConnectionTests {
    static let refuseHello = "-ERR unknown command 'HELLO', with args beginning with: '3'\r\n"

    func configuration(_ server: StaticRedisServer, commandTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(5)) -> RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: server.port, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }

    static func echo(_ id: Int) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeRESPArrayHeader(2)
        "ECHO".writeBulk(into: &b)
        String(id).writeBulk(into: &b)
        return b
    }

    @Test("a drop mid-pipeline fails the unanswered commands and never mismatches a reply")
    func dropMidPipeline() async throws {
        let received = Mutex(0)
        try await StaticRedisServer.withServer({ args in
            if args.first == "HELLO" { return .reply(Self.refuseHello) }
            let n = received.withLock { n in
                n += 1
                return n
            }
            // Five answers, then half a reply and a hang-up.
            return n <= 5 ? .reply(StaticRedisServer.bulk(args[1])) : .replyAndClose("$3\r\nab")
        }) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            #expect(connection.protocolVersion == .resp2)
            let results = await withTaskGroup(of: (Int, Result<RESPValue, CacheError>).self) { group in
                for id in 0..<20 {
                    group.addTask {
                        do throws(CacheError) {
                            return (id, .success(try await connection.send(Self.echo(id))))
                        } catch {
                            return (id, .failure(error))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            var answered = 0
            for (id, result) in results {
                switch result {
                case .success(let value):
                    #expect(value == .bulkString(ByteBuffer(string: String(id))), "command \(id) got another command's reply")
                    answered += 1
                case .failure(let error):
                    #expect(error.code == .connection)
                }
            }
            #expect(answered == 5)
            #expect(!connection.isActive)
            await #expect(throws: CacheError.self) { try await connection.send(Self.echo(99)) }
        }
    }

    @Test("an overdue reply fails with timeout, closes the connection, and the client reconnects")
    func commandTimeout() async throws {
        try await StaticRedisServer.withServer({ args in
            switch args.first {
            case "HELLO": .reply(Self.refuseHello)
            case "BLOCK": .ignore
            default: .reply("+PONG\r\n")
            }
        }) { server in
            // 500 ms, not less: the reconnect and PING that follow must fit in it too, on a
            // machine where the suite shares two cores with builds.
            let client = try RedisClient(configuration: configuration(server, commandTimeout: .milliseconds(500)))
            let clock = ContinuousClock()
            let start = clock.now
            do {
                _ = try await client.send("BLOCK")
                Issue.record("BLOCK must time out")
            } catch let error as CacheError {
                #expect(error.code == .timeout)
            }
            let elapsed = clock.now - start
            #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(30), "bounded by the timeout, not hanging (generous: CI shares two cores)")
            #expect(try await client.send("PING") == .simpleString(ByteBuffer(string: "PONG")))
            await client.close()
        }
    }

    @Test("a server that never answers the handshake times out the connect")
    func handshakeTimeout() async throws {
        try await StaticRedisServer.withServer({ _ in .ignore }) { server in
            let client = try RedisClient(configuration: configuration(server, commandTimeout: .milliseconds(100), connectTimeout: .milliseconds(300)))
            do {
                _ = try await client.send("PING")
                Issue.record("must time out")
            } catch let error as CacheError {
                #expect(error.code == .timeout)
            }
            await client.close()
        }
    }

    @Test("nothing listening fails with connection after the connect timeout")
    func refused() async throws {
        // A port bound but not listening refuses connections, and stays ours for the whole
        // test: a port freed by stopping a server could be taken by a parallel test's server.
        let socket = try #require(ReservedPort())
        defer { socket.release() }
        let client = try RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: socket.port, connectTimeout: .milliseconds(200)))
        do {
            _ = try await client.send("PING")
            Issue.record("must fail")
        } catch {
            #expect(error.code == .connection)
        }
        await client.close()
    }

    @Test("a cancelled wait leaves its slot, so the late reply does not reach the next command")
    func cancellation() async throws {
        let (slowArrived, signal) = AsyncStream<Void>.makeStream()
        try await StaticRedisServer.withServer({ args in
            switch args.first {
            case "HELLO": return .reply(Self.refuseHello)
            case "SLOW":
                signal.yield()
                return .ignore
            default: return .reply(StaticRedisServer.bulk("late") + StaticRedisServer.bulk(args[1]))
            }
        }) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            let slow = Task { () throws -> RESPValue in
                var b = ByteBuffer()
                b.writeRESPArrayHeader(1)
                "SLOW".writeBulk(into: &b)
                return try await connection.send(b)
            }
            var arrivals = slowArrived.makeAsyncIterator()
            _ = await arrivals.next()
            slow.cancel()
            switch await slow.result {
            case .success(let value): Issue.record("cancelled command returned \(value)")
            case .failure(let error): #expect((error as? CacheError)?.code == .cancelled)
            }
            #expect(try await connection.send(Self.echo(7)) == .bulkString(ByteBuffer(string: "7")))
            #expect(connection.isActive)
            await connection.close()
        }
    }

    @Test("bytes that are not RESP fail with protocolError and close the connection")
    func garbageReply() async throws {
        try await StaticRedisServer.withServer({ args in
            args.first == "HELLO" ? .reply(Self.refuseHello) : .reply("?what\r\n")
        }) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            do {
                _ = try await connection.send(Self.echo(1))
                Issue.record("must fail")
            } catch let error as CacheError {
                #expect(error.code == .protocolError)
            }
            try await connection.closeFuture.get()
            #expect(!connection.isActive)
        }
    }

    @Test("a pipeline's replies are collected in order, skipping an out-of-band push between them")
    func pipelineWithPush() async throws {
        try await StaticRedisServer.withServer({ args in
            if args.first == "HELLO" { return .reply(Self.refuseHello) }
            // Before the third reply, a RESP3 push that belongs to no command.
            return args[1] == "2" ? .reply(">2\r\n+message\r\n+x\r\n" + StaticRedisServer.bulk(args[1])) : .reply(StaticRedisServer.bulk(args[1]))
        }) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            var batch = ByteBuffer()
            for id in 0..<5 { batch.writeImmutableBuffer(Self.echo(id)) }
            let replies = try await connection.send(batch, count: 5)
            #expect(replies == (0..<5).map { .bulkString(ByteBuffer(string: String($0))) })
            // The connection is still in step.
            #expect(try await connection.send(Self.echo(9)) == .bulkString(ByteBuffer(string: "9")))
            await connection.close()
        }
    }
}

/// A TCP port on 127.0.0.1 held by a socket that is bound but never listens, so connecting to
/// it is refused and no other process can take it meanwhile.
struct ReservedPort {
    let descriptor: Int32
    let port: Int

    init?() {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                Glibc.bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            return nil
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(descriptor) }
}
