import NIOCore
import NIOEmbedded
import Spillway
import SpillwayProxy
import SpillwayRedis
import Testing

@Suite("Proxy connection: handler and loops without sockets")
struct ProxyConnectionTests {
    @Test("the request handler batches each read's commands and ends with a protocol error on garbage")
    func requestHandler() throws {
        let channel = EmbeddedChannel(handler: ProxyRequestHandler())
        try channel.writeInbound(ByteBuffer(string: "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
        #expect(try channel.readInbound(as: ProxyInbound.self) == .requests([ProxyRequest("PING"), ProxyRequest("GET", "k")]))
        try channel.writeInbound(ByteBuffer(string: "*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n"))
        #expect(try channel.readInbound(as: ProxyInbound.self) == .requests([ProxyRequest("PING")]))
        guard case .protocolError(let message) = try channel.readInbound(as: ProxyInbound.self) else {
            Issue.record("no protocol error")
            return
        }
        #expect(message.hasPrefix("ERR"))
        try channel.writeInbound(ByteBuffer(string: "*1\r\n$4\r\nPING\r\n"))
        #expect(try channel.readInbound(as: ProxyInbound.self) == nil, "nothing is read after the error")
        _ = try channel.finish()
    }

    @Test("random bytes never crash the request handler")
    func fuzzish() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let channel = EmbeddedChannel(handler: ProxyRequestHandler(limits: RESPDecoder.Limits(maxBulkLength: 4096, maxLineLength: 256, maxReplyBytes: 65536)))
            let prefix = ["*", "$", "*2\r\n$", "*1\r\n$3\r\n", ""].randomElement(using: &generator)!
            var bytes = ByteBuffer(string: prefix)
            bytes.writeBytes((0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            try channel.writeInbound(bytes)
            while let _ = try channel.readInbound(as: ProxyInbound.self) {}
            _ = try channel.finish()
        }
    }

    /// Runs a connection on testing streams; `script` plays the client and the upstream.
    func withConnection(
        rules: ProxyRules = ProxyRules(policies: PolicyTable()), handshake: [ProxyRequest] = [],
        _ script: (
            _ client: NIOAsyncChannelInboundStream<ProxyInbound>.TestSource, _ toClient: NIOAsyncChannelOutboundWriter<ByteBuffer>.TestSink,
            _ upstream: NIOAsyncChannelInboundStream<[RESPValue]>.TestSource, _ toUpstream: NIOAsyncChannelOutboundWriter<ByteBuffer>.TestSink
        ) async throws -> Void
    ) async throws {
        let (clientIn, client) = NIOAsyncChannelInboundStream<ProxyInbound>.makeTestingStream()
        let (clientOut, toClient) = NIOAsyncChannelOutboundWriter<ByteBuffer>.makeTestingWriter()
        let (upIn, upstream) = NIOAsyncChannelInboundStream<[RESPValue]>.makeTestingStream()
        let (upOut, toUpstream) = NIOAsyncChannelOutboundWriter<ByteBuffer>.makeTestingWriter()
        let connection = ProxyConnection(rules: rules, keys: StaticKeySource(CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: false))), handshake: handshake)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await connection.run(
                    clientInbound: clientIn, clientOutbound: clientOut, upstreamInbound: upIn, upstreamOutbound: upOut,
                    close: {
                        clientOut.finish()
                        upstream.finish()
                    })
            }
            try await script(client, toClient, upstream, toUpstream)
            try await group.waitForAll()
        }
    }

    static func bulk(_ s: String) -> RESPValue { .bulkString(ByteBuffer(string: s)) }

    @Test("a pipeline goes upstream in one write and its replies come back in order, push messages in between")
    func pipeline() async throws {
        try await withConnection { client, toClient, upstream, toUpstream in
            var written = toUpstream.makeAsyncIterator()
            var answered = toClient.makeAsyncIterator()
            client.yield(.requests([ProxyRequest("SUBSCRIBE", "ch"), ProxyRequest("PING"), ProxyRequest("GET", "k")]))
            let sent = try #require(await written.next())
            #expect(String(buffer: sent) == "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
            upstream.yield([.push([Self.bulk("subscribe"), Self.bulk("ch"), .integer(1)]), .simpleString(ByteBuffer(string: "PONG"))])
            let first = try #require(await answered.next())
            #expect(String(buffer: first) == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n+PONG\r\n")
            // A message while the GET is still owed passes straight through.
            upstream.yield([.push([Self.bulk("message"), Self.bulk("ch"), Self.bulk("hi")])])
            #expect(String(buffer: try #require(await answered.next())) == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
            upstream.yield([Self.bulk("v")])
            #expect(String(buffer: try #require(await answered.next())) == "$1\r\nv\r\n")
            client.finish()
            #expect(await answered.next() == nil)
        }
    }

    @Test("a protocol error is answered after the replies already owed, then the connection closes")
    func protocolErrorLast() async throws {
        try await withConnection { client, toClient, upstream, toUpstream in
            var written = toUpstream.makeAsyncIterator()
            var answered = toClient.makeAsyncIterator()
            client.yield(.requests([ProxyRequest("GET", "k")]))
            client.yield(.protocolError("ERR Protocol error"))
            _ = try #require(await written.next())
            upstream.yield([Self.bulk("v")])
            var all = ""
            while let chunk = await answered.next() { all += String(buffer: chunk) }
            #expect(all == "$1\r\nv\r\n-ERR Protocol error\r\n")
        }
    }

    @Test("a refused command is answered in its place in the reply order")
    func localAnswerOrder() async throws {
        try await withConnection { client, toClient, upstream, toUpstream in
            var written = toUpstream.makeAsyncIterator()
            var answered = toClient.makeAsyncIterator()
            client.yield(.requests([ProxyRequest("GET", "a"), ProxyRequest("CLIENT", "REPLY", "OFF"), ProxyRequest("GET", "b")]))
            _ = try #require(await written.next())
            upstream.yield([Self.bulk("1"), Self.bulk("2")])
            client.finish()
            var all = ""
            while let chunk = await answered.next() { all += String(buffer: chunk) }
            #expect(all.hasPrefix("$1\r\n1\r\n-ERR CLIENT REPLY OFF is not supported"))
            #expect(all.hasSuffix("$1\r\n2\r\n"))
        }
    }

    @Test("the proxy's own AUTH goes first and answers nothing; a refused one reaches the client as an error and ends the connection")
    func handshake() async throws {
        try await withConnection(handshake: [ProxyRequest("AUTH", "pw")]) { client, toClient, upstream, toUpstream in
            var written = toUpstream.makeAsyncIterator()
            var answered = toClient.makeAsyncIterator()
            #expect(String(buffer: try #require(await written.next())) == "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
            client.yield(.requests([ProxyRequest("PING")]))
            _ = try #require(await written.next())
            upstream.yield([.simpleString(ByteBuffer(string: "OK")), .simpleString(ByteBuffer(string: "PONG"))])
            #expect(String(buffer: try #require(await answered.next())) == "+PONG\r\n")
            client.finish()
            #expect(await answered.next() == nil)
        }
        try await withConnection(handshake: [ProxyRequest("AUTH", "pw")]) { client, toClient, upstream, toUpstream in
            var written = toUpstream.makeAsyncIterator()
            var answered = toClient.makeAsyncIterator()
            _ = try #require(await written.next())
            upstream.yield([.error(ByteBuffer(string: "WRONGPASS invalid username-password pair"))])
            let reply = String(buffer: try #require(await answered.next()))
            #expect(reply.hasPrefix("-ERR spillway proxy: upstream refused AUTH: WRONGPASS"))
            #expect(await answered.next() == nil)
            client.finish()
        }
    }
}
