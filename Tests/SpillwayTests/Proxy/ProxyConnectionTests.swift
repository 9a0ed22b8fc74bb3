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

    /// A connection on two embedded channels that share one loop: `script` plays the client
    /// (bytes in, answers out) and the upstream (commands out, replies in).
    struct Wires {
        let client: EmbeddedChannel
        let upstream: EmbeddedChannel

        func send(_ bytes: String) throws { try client.writeInbound(ByteBuffer(string: bytes)) }
        func reply(_ bytes: String) throws { try upstream.writeInbound(ByteBuffer(string: bytes)) }
        func sentUpstream() throws -> String { try Self.drain(upstream) }
        func answered() throws -> String { try Self.drain(client) }

        static func drain(_ channel: EmbeddedChannel) throws -> String {
            var all = ""
            while let chunk = try channel.readOutbound(as: ByteBuffer.self) { all += String(buffer: chunk) }
            return all
        }
    }

    func withConnection(
        rules: ProxyRules = ProxyRules(policies: PolicyTable()), handshake: [ProxyRequest] = [], _ script: (Wires) throws -> Void
    ) throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        let clientGlue = ProxyGlueHandler()
        let upstreamGlue = ProxyGlueHandler()
        try client.pipeline.syncOperations.addHandlers(ProxyRequestHandler(), clientGlue)
        try upstream.pipeline.syncOperations.addHandlers(UpstreamReplyHandler(), upstreamGlue)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let table = CommandKeyTable(commandReply: KeySpecFixtures.reply(resp3: false))
        let connection = ProxyConnection(
            rules: rules, keys: StaticKeySource(table), table: table, eventLoop: loop, client: clientGlue, upstream: upstreamGlue
        )
        connection.start(handshake: handshake)
        try script(Wires(client: client, upstream: upstream))
        _ = try? client.finish()
        _ = try? upstream.finish()
    }

    static let getK = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"

    @Test("a pipeline goes upstream in one write as the client's bytes, and its replies come back in order as the upstream's, push messages in between")
    func pipeline() throws {
        try withConnection { wires in
            let pipeline = "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n*1\r\n$4\r\nPING\r\n" + Self.getK
            try wires.send(pipeline)
            #expect(try wires.upstream.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == pipeline, "one write")
            try wires.reply(">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n+PONG\r\n")
            #expect(try wires.answered() == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n+PONG\r\n")
            // A message while the GET is still owed passes straight through.
            try wires.reply(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
            #expect(try wires.answered() == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
            // A RESP2 null array reaches the client as it was sent.
            try wires.reply("*-1\r\n")
            let null = try wires.answered()
            #expect(null == "*-1\r\n")
            // The client stops sending and is owed nothing: both sides close.
            wires.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            #expect(!wires.client.isActive)
            #expect(!wires.upstream.isActive)
        }
    }

    @Test("a reply cut across reads is forwarded whole once it is complete")
    func replyCutAcrossReads() throws {
        try withConnection { wires in
            try wires.send(Self.getK + Self.getK)
            _ = try wires.sentUpstream()
            try wires.reply("*2\r\n$1\r\na\r\n")
            #expect(try wires.answered() == "")
            try wires.reply("$1\r\nb\r\n$3\r\nxyz")
            #expect(try wires.answered() == "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
            try wires.reply("\r\n")
            #expect(try wires.answered() == "$3\r\nxyz\r\n")
        }
    }

    @Test("a key the guard hashes goes upstream re-encoded; the commands around it keep the client's bytes")
    func rewrittenCommand() throws {
        let rules = ProxyRules(policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 64)))
        try withConnection(rules: rules) { wires in
            let long = String(repeating: "k", count: 100)
            try wires.send(Self.getK + "*2\r\n$3\r\nGET\r\n$100\r\n\(long)\r\n" + Self.getK)
            let hashed = KeyHasher().hashed(CacheKey(long), maxKeyBytes: 64).string
            #expect(try wires.sentUpstream() == Self.getK + "*2\r\n$3\r\nGET\r\n$\(hashed.utf8.count)\r\n\(hashed)\r\n" + Self.getK)
            #expect(rules.stats.count(.commands) == 3)
        }
    }

    @Test("a protocol error is answered after the replies already owed, then the connection closes")
    func protocolErrorLast() throws {
        try withConnection { wires in
            try wires.send(Self.getK)
            try wires.send("*1\r\n:1\r\n")
            #expect(try wires.sentUpstream() == Self.getK)
            #expect(wires.client.isActive, "still owed a reply")
            try wires.reply("$1\r\nv\r\n")
            let all = try wires.answered()
            #expect(all.hasPrefix("$1\r\nv\r\n-ERR Protocol error"))
            #expect(!wires.client.isActive)
        }
    }

    @Test("a refused command is answered in its place in the reply order")
    func localAnswerOrder() throws {
        try withConnection { wires in
            try wires.send("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
            #expect(try wires.sentUpstream() == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
            try wires.reply("$1\r\n1\r\n$1\r\n2\r\n")
            let all = try wires.answered()
            #expect(all.hasPrefix("$1\r\n1\r\n-ERR CLIENT REPLY OFF is not supported"))
            #expect(all.hasSuffix("$1\r\n2\r\n"))
        }
    }

    @Test("the proxy's own AUTH goes first and answers nothing; a refused one reaches the client as an error and ends the connection")
    func handshake() throws {
        try withConnection(handshake: [ProxyRequest("AUTH", "pw")]) { wires in
            #expect(try wires.sentUpstream() == "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
            try wires.send("*1\r\n$4\r\nPING\r\n")
            _ = try wires.sentUpstream()
            try wires.reply("+OK\r\n+PONG\r\n")
            #expect(try wires.answered() == "+PONG\r\n")
        }
        try withConnection(handshake: [ProxyRequest("AUTH", "pw")]) { wires in
            _ = try wires.sentUpstream()
            try wires.reply("-WRONGPASS invalid username-password pair\r\n")
            #expect(try wires.answered().hasPrefix("-ERR spillway proxy: upstream refused AUTH: WRONGPASS"))
            #expect(!wires.client.isActive)
        }
    }

    @Test("the upstream going away closes the client and counts a failure when replies were owed")
    func upstreamGone() throws {
        let rules = ProxyRules(policies: PolicyTable())
        try withConnection(rules: rules) { wires in
            try wires.send(Self.getK)
            _ = try wires.sentUpstream()
            wires.upstream.pipeline.fireChannelInactive()
            #expect(!wires.client.isActive)
            #expect(rules.stats.count(.upstreamFailures) == 1)
        }
    }

    @Test("with the spill on, a SET goes upstream framed in the proxy's own MULTI and the client gets the SET's reply; a pipeline keeps its order; under WATCH the script is used")
    func releaseTransaction() throws {
        let rules = ProxyRules(
            policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024), prefixes: ["lock:": PolicyOverrides(onOOM: .fail)]),
            spill: ProxySpill(ValueSpill(store: MemoryBlobStore()))
        )
        let last = String(ValueSpill<MemoryBlobStore>.previousHeadBytes - 1)
        func getrange(_ key: String) -> String { "*4\r\n$8\r\nGETRANGE\r\n$\(key.utf8.count)\r\n\(key)\r\n$1\r\n0\r\n$\(last.count)\r\n\(last)\r\n" }
        func set(_ key: String) -> String { "*3\r\n$3\r\nSET\r\n$\(key.utf8.count)\r\n\(key)\r\n$1\r\nv\r\n" }
        let multi = "*1\r\n$5\r\nMULTI\r\n"
        let exec = "*1\r\n$4\r\nEXEC\r\n"
        try withConnection(rules: rules) { wires in
            // Two SETs and a GET in one read: one write upstream, each SET in its own frame.
            try wires.send(set("a") + set("lock:b") + Self.getK)
            #expect(try wires.sentUpstream() == multi + getrange("a") + set("a") + exec + multi + getrange("lock:b") + set("lock:b") + exec + Self.getK)
            try wires.reply("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$3\r\nraw\r\n+OK\r\n+OK\r\n+QUEUED\r\n")
            #expect(try wires.answered() == "+OK\r\n", "the first SET's own reply; the second is not complete")
            try wires.reply("+QUEUED\r\n*2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+OK\r\n$1\r\nx\r\n")
            #expect(try wires.answered() == "+OK\r\n$1\r\nx\r\n", "a GETRANGE of a list fails, the SET overwrites it")
            // Refused at queue time (maxmemory): EXEC is aborted and the client gets the SET's
            // own -OOM, shed to +OK on a shed route, passed on an onOOM: fail one.
            try wires.send(set("a") + set("lock:b"))
            _ = try wires.sentUpstream()
            let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
            let abort = "-EXECABORT Transaction discarded because of previous errors.\r\n"
            try wires.reply("+OK\r\n+QUEUED\r\n" + oom + abort + "+OK\r\n+QUEUED\r\n" + oom + abort)
            #expect(try wires.answered() == "+OK\r\n" + oom)
            // Queued, then EXEC refused: the same answers.
            try wires.send(set("a") + set("lock:b"))
            _ = try wires.sentUpstream()
            let execAbort = "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
            try wires.reply("+OK\r\n+QUEUED\r\n+QUEUED\r\n" + execAbort + "+OK\r\n+QUEUED\r\n+QUEUED\r\n" + execAbort)
            #expect(try wires.answered() == "+OK\r\n" + oom)
            // Under WATCH, a MULTI of the proxy's own would drop the client's watches: the script.
            try wires.send("*2\r\n$5\r\nWATCH\r\n$1\r\na\r\n" + set("a"))
            let sent = try wires.sentUpstream()
            #expect(sent.hasPrefix("*2\r\n$5\r\nWATCH\r\n$1\r\na\r\n*9\r\n$4\r\nEVAL\r\n"))
            #expect(!sent.contains("MULTI"))
        }
    }
}
