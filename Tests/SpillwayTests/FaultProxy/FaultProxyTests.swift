import NIOCore
import NIOPosix
import Spillway
import SpillwayTesting
import Testing

/// The proxy against a local echo server: every toxic, observed from a real TCP client.
@Suite("FaultProxy against an echo server")
struct FaultProxyTests {
    private func withEchoProxy(_ body: (FaultProxy) async throws -> Void) async throws {
        let echo = try await EchoServer.start()
        do {
            try await FaultProxy.withProxy(targetPort: echo.port, seed: 3, body)
        } catch {
            await echo.stop()
            throw error
        }
        await echo.stop()
    }

    @Test("bytes pass through untouched and are counted both ways")
    func passthrough() async throws {
        try await withEchoProxy { proxy in
            #expect(proxy.port > 0 && proxy.port != proxy.targetPort)
            let (chunks, error) = try await TestConnection.connect(port: proxy.port).exchange("hello", expecting: 5)
            #expect(error == nil)
            #expect(chunks.joined() == "hello")
            #expect(proxy.bytesForwarded(.upstream) == 5)
            #expect(proxy.bytesForwarded(.downstream) == 5)
            #expect(proxy.acceptedConnections == 1)
        }
    }

    @Test("latency delays each direction")
    func latency() async throws {
        try await withEchoProxy { proxy in
            proxy.update { $0.latency = .milliseconds(150) }
            let connection = try await TestConnection.connect(port: proxy.port)
            let start = ContinuousClock.now
            let (chunks, _) = await connection.exchange("ping", expecting: 4)
            let elapsed = ContinuousClock.now - start
            #expect(chunks.joined() == "ping")
            #expect(elapsed >= .milliseconds(300), "two hops of 150 ms, got \(elapsed)")
        }
    }

    @Test("a bandwidth limit paces the bytes")
    func bandwidth() async throws {
        try await withEchoProxy { proxy in
            proxy.update(.downstream) { $0.bytesPerSecond = 20_000 }
            let payload = String(repeating: "x", count: 10_000)
            let connection = try await TestConnection.connect(port: proxy.port)
            let start = ContinuousClock.now
            let (chunks, _) = await connection.exchange(payload, expecting: payload.utf8.count)
            let elapsed = ContinuousClock.now - start
            #expect(chunks.joined() == payload)
            #expect(elapsed >= .milliseconds(450), "10 kB at 20 kB/s, got \(elapsed)")
        }
    }

    @Test("slicing delivers the same bytes in small chunks")
    func slicing() async throws {
        try await withEchoProxy { proxy in
            proxy.update(.downstream) {
                $0.sliceSize = 4
                $0.sliceDelay = .milliseconds(20)
            }
            let text = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
            let (chunks, error) = try await TestConnection.connect(port: proxy.port).exchange(text, expecting: text.utf8.count)
            #expect(error == nil)
            #expect(chunks.joined() == text)
            #expect(chunks.count >= 2, "sliced into 4-byte pieces 20 ms apart, got \(chunks.count) chunks")
        }
    }

    @Test("resetAll cuts open connections with an RST")
    func resetNow() async throws {
        try await withEchoProxy { proxy in
            let socket = try #require(RawSocket(port: proxy.port))
            #expect(socket.send("a"))
            #expect(socket.receive() == .data(1))
            #expect(await proxy.resetAll() == 1)
            #expect(socket.receive() == .reset)
            #expect(proxy.resetConnections == 1)
        }
    }

    @Test("resetAfterBytes delivers the first n bytes, then resets")
    func resetAfterBytes() async throws {
        try await withEchoProxy { proxy in
            proxy.update(.upstream) { $0.resetAfterBytes = 6 }
            let socket = try #require(RawSocket(port: proxy.port))
            #expect(socket.send("0123456789"))
            let (bytes, ending) = socket.drain()
            #expect(bytes <= 6)
            #expect(ending == .reset)
            #expect(proxy.bytesForwarded(.upstream) == 6)
            #expect(proxy.resetConnections == 1)
        }
    }

    @Test("a blackhole drops bytes; healed, the connection carries new bytes")
    func blackhole() async throws {
        try await withEchoProxy { proxy in
            let connection = try await TestConnection.connect(port: proxy.port)
            try await connection.channel.executeThenClose { inbound, outbound in
                proxy.update(.upstream) { $0.blackhole = true }
                try await outbound.write(ByteBuffer(string: "lost"))
                while proxy.bytesDropped(.upstream) < 4 { await Task.yield() }
                await proxy.heal()
                try await outbound.write(ByteBuffer(string: "kept"))
                var iterator = inbound.makeAsyncIterator()
                #expect(try await iterator.next().map { String(buffer: $0) } == "kept")
            }
            #expect(proxy.bytesDropped(.upstream) == 4)
            #expect(proxy.bytesForwarded(.upstream) == 4)
        }
    }

    @Test("hold stops accepting; forward serves the waiting client")
    func hold() async throws {
        try await withEchoProxy { proxy in
            await proxy.setAcceptMode(.hold)
            let connection = try await TestConnection.connect(port: proxy.port)
            #expect(proxy.acceptedConnections == 0)
            await proxy.setAcceptMode(.forward)
            let (chunks, error) = await connection.exchange("late", expecting: 4)
            #expect(error == nil)
            #expect(chunks.joined() == "late")
            #expect(proxy.acceptedConnections == 1)
        }
    }

    @Test("reset mode refuses new connections with an RST")
    func refuse() async throws {
        try await withEchoProxy { proxy in
            await proxy.setAcceptMode(.reset)
            let socket = try #require(RawSocket(port: proxy.port))
            #expect(socket.drain() == (0, .reset))
            #expect(proxy.acceptedConnections == 0)
            #expect(proxy.resetConnections == 1)
        }
    }

    @Test("a target that is down resets the client")
    func targetDown() async throws {
        let echo = try await EchoServer.start()
        let port = echo.port
        await echo.stop()
        try await FaultProxy.withProxy(targetPort: port) { proxy in
            let socket = try #require(RawSocket(port: proxy.port))
            #expect(socket.drain() == (0, .reset))
            #expect(proxy.acceptedConnections == 0)
        }
    }
}
