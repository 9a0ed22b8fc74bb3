import NIOCore
import NIOEmbedded
import Spillway
@testable import SpillwayRedis
import Testing

/// The channel handler on an `NIOAsyncTestingChannel`: the bytes it writes, replies injected in
/// pieces, closes, and timers on the channel's virtual clock (no socket, no sleeping).
@Suite("Redis channel handler")
struct RedisChannelHandlerTests {
    /// A connection over a testing channel; `body` gets the channel and the connection.
    func withConnection(
        commandTimeout: Duration = .seconds(5),
        idleTimeout: Duration? = nil,
        maxQueued: Int = RedisConfiguration.defaultMaxQueuedCommands,
        limits: RESPDecoder.Limits = RESPDecoder.Limits(),
        _ body: (NIOAsyncTestingChannel, RedisConnection) async throws -> Void
    ) async throws {
        let channel = NIOAsyncTestingChannel()
        let handler = RedisChannelHandler(
            eventLoop: channel.eventLoop, decoder: RESPDecoder(limits: limits), commandTimeout: commandTimeout,
            idleTimeout: idleTimeout, maxQueuedCommands: maxQueued
        )
        try await channel.pipeline.addHandler(handler)
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        let connection = RedisConnection(channel: channel, handler: handler)
        try await body(channel, connection)
        _ = try? await channel.finish()
    }

    static func command(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("writes the command's bytes, and a reply split across reads completes it")
    func roundTrip() async throws {
        try await withConnection { channel, connection in
            async let reply = connection.send(Self.command("*1\r\n$4\r\nPING\r\n"))
            let written = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            #expect(String(buffer: written) == "*1\r\n$4\r\nPING\r\n")
            try await channel.writeInbound(ByteBuffer(string: "+PO"))
            try await channel.writeInbound(ByteBuffer(string: "NG\r\n"))
            #expect(try await reply == .simpleString(ByteBuffer(string: "PONG")))
        }
    }

    @Test("a pipeline's replies come back in order, one aggregate cut in many reads, a push between them skipped")
    func pipeline() async throws {
        try await withConnection { channel, connection in
            async let replies = connection.send(Self.command("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nMGET\r\n$1\r\na\r\n"), count: 2)
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            for piece in ["+PONG\r\n>1\r\n+pu", "sh\r\n*3\r\n$1", "\r\nx\r\n", "_\r\n$1\r\ny\r", "\n"] {
                try await channel.writeInbound(ByteBuffer(string: piece))
            }
            let values = try await replies
            #expect(values.count == 2)
            #expect(values[0] == .simpleString(ByteBuffer(string: "PONG")))
            #expect(values[1] == .array([.bulkString(ByteBuffer(string: "x")), .null, .bulkString(ByteBuffer(string: "y"))]))
        }
    }

    @Test("an overdue reply fails with timeout on the channel's clock and closes the channel")
    func timeout() async throws {
        try await withConnection(commandTimeout: .seconds(2)) { channel, connection in
            async let reply = connection.send(Self.command("*1\r\n$4\r\nPING\r\n"))
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            await channel.testingEventLoop.advanceTime(by: .milliseconds(1999))
            #expect(connection.isActive)
            await channel.testingEventLoop.advanceTime(by: .milliseconds(1))
            do {
                _ = try await reply
                Issue.record("reply must fail with .timeout")
            } catch {
                #expect((error as? CacheError)?.code == .timeout)
            }
            #expect(!connection.isActive)
        }
    }

    @Test("the server closing the channel fails waiting commands with connection")
    func serverClose() async throws {
        try await withConnection { channel, connection in
            async let reply = connection.send(Self.command("*1\r\n$4\r\nPING\r\n"))
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            channel.pipeline.fireChannelInactive()
            do {
                _ = try await reply
                Issue.record("reply must fail with .connection")
            } catch {
                #expect((error as? CacheError)?.code == .connection)
            }
        }
    }

    @Test("a reply above maxReplyBytes fails with tooLarge and closes the channel")
    func replyCap() async throws {
        try await withConnection(limits: RESPDecoder.Limits(maxReplyBytes: 1000)) { channel, connection in
            async let big = connection.send(Self.command("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            try await channel.writeInbound(ByteBuffer(string: "$5000\r\n"))
            do {
                _ = try await big
                Issue.record("big must fail with .tooLarge")
            } catch {
                #expect((error as? CacheError)?.code == .tooLarge)
            }
            #expect(!connection.isActive)
        }
    }

    @Test("commands beyond maxQueuedCommands fail with busy, and the connection carries on")
    func queueBound() async throws {
        try await withConnection(maxQueued: 2) { channel, connection in
            async let a = connection.send(Self.command("*1\r\n$1\r\nA\r\n"))
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            async let b = connection.send(Self.command("*1\r\n$1\r\nB\r\n"))
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            await #expect {
                _ = try await connection.send(Self.command("*1\r\n$1\r\nC\r\n"))
            } throws: { error in
                (error as? CacheError)?.code == .busy
            }
            try await channel.writeInbound(ByteBuffer(string: ":1\r\n:2\r\n"))
            #expect(try await a == .integer(1))
            #expect(try await b == .integer(2))
            #expect(connection.isActive)
        }
    }
}
