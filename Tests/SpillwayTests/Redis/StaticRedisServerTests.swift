import NIOCore
import NIOPosix
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// The benchmarks' in-process fake server answers what the client sends, in order.
@Suite("StaticRedisServer")
struct StaticRedisServerTests {
    @Test("SET gets OK, GET the fixed value, others an error; pipelines stay in order")
    func answers() async throws {
        let value = ByteBuffer(repeating: 0x62, count: 100)
        let server = try await StaticRedisServer.start(getValue: value)
        let client = try RedisClient(configuration: RedisConfiguration(port: server.port, maxConnections: 2))
        do {
            guard case .write(let w) = try await client.execute(.set("k", ByteBuffer(string: "v"), SetOptions())) else {
                Issue.record("SET reply")
                return
            }
            #expect(w.outcome == .stored)
            guard case .value(let got) = try await client.execute(.get("k")) else {
                Issue.record("GET reply")
                return
            }
            #expect(got == value)
            #expect(try await client.send("PING").string == "PONG")
            guard case .write(let previous) = try await client.execute(.set("k", ByteBuffer(string: "v"), SetOptions(returnPrevious: true))) else {
                Issue.record("SET … GET reply")
                return
            }
            #expect(previous.outcome == .stored)
            #expect(previous.previous == nil)
            await #expect(throws: CacheError.self) { _ = try await client.send("DEL", "k") }

            let replies = try await client.pipeline([["GET", "a"], ["SET", "a", "1"], ["get", "b"], ["PING"]])
            #expect(replies == [.bulkString(value), .simpleString(ByteBuffer(string: "OK")), .bulkString(value), .simpleString(ByteBuffer(string: "PONG"))])

            // Many concurrent commands over two connections: each gets the reply to its own kind.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        if i.isMultiple(of: 2) {
                            guard case .value(let v) = try await client.execute(.get(CacheKey("k\(i)"))) else { throw CacheError(.other, "GET") }
                            #expect(v == value)
                        } else {
                            guard case .write(let w) = try await client.execute(.set(CacheKey("k\(i)"), value, SetOptions())) else { throw CacheError(.other, "SET") }
                            #expect(w.outcome == .stored)
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            await client.close()
            await server.stop()
            throw error
        }
        await client.close()
        await server.stop()
    }

    @Test("a command split across reads is answered once it is complete")
    func splitCommand() async throws {
        let server = try await StaticRedisServer.start(getValue: ByteBuffer(string: "xyz"))
        let connection = try await RedisConnection.connect(
            configuration: RedisConfiguration(port: server.port, protocolVersion: .resp2),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
        // Write half a GET, then the rest, straight on the channel; the reply arrives once.
        let reply = try await connection.send(ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI"), count: 1)
        #expect(reply == [.bulkString(ByteBuffer(string: "xyz"))])
        let pong = try await connection.send(ByteBuffer(string: "NG\r\n"))
        #expect(pong == .simpleString(ByteBuffer(string: "PONG")))
        await connection.close()
        await server.stop()
    }
}
