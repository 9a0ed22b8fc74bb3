import NIOCore
import Spillway
import SpillwayProxy
import SpillwayRedis
import Testing

@Suite("Proxy request parser")
struct ProxyRequestParserTests {
    func strings(_ request: ProxyRequest) -> [String] {
        request.arguments.map { String(decoding: $0.readableBytesView, as: UTF8.self) }
    }

    @Test("a pipeline cut at every byte gives the same commands, in order")
    func pipelineCutAnywhere() throws {
        let wire = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"
        let bytes = Array(wire.utf8)
        for cut in 1..<bytes.count {
            var parser = ProxyRequestParser()
            var seen: [[String]] = []
            parser.append(ByteBuffer(bytes: bytes[..<cut]))
            seen += try parser.all().map(strings)
            parser.append(ByteBuffer(bytes: bytes[cut...]))
            seen += try parser.all().map(strings)
            #expect(seen == [["SET", "k", "hello"], ["GET", "k"], ["PING"]], "cut at \(cut)")
            #expect(parser.bufferedBytes == 0)
        }
    }

    @Test("inline commands are split on spaces; empty lines are ignored")
    func inline() throws {
        var parser = ProxyRequestParser()
        parser.append(ByteBuffer(string: "\r\nSET  a\tb\r\nPING\n"))
        #expect(try parser.all().map(strings) == [["SET", "a", "b"], ["PING"]])
    }

    @Test("binary-safe arguments keep every byte")
    func binary() throws {
        var parser = ProxyRequestParser()
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$4\r\n")
        buffer.writeBytes([0x00, 0xFF, 0x0D, 0x0A])
        buffer.writeString("\r\n")
        parser.append(buffer)
        let request = try #require(try parser.next())
        #expect(Array(request.arguments[1].readableBytesView) == [0x00, 0xFF, 0x0D, 0x0A])
    }

    @Test(
        "bytes that are not a command are a protocol error",
        arguments: ["*1\r\n:5\r\n", "*0\r\n", "*x\r\n", "*1\r\n+OK\r\n", "*2\r\n$3\r\nGET\r\n*1\r\n$1\r\na\r\n"]
    )
    func garbage(_ wire: String) {
        var parser = ProxyRequestParser()
        parser.append(ByteBuffer(string: wire))
        #expect(throws: CacheError.self) { _ = try parser.all() }
        #expect(parser.bufferedBytes == 0)
    }

    @Test("a request over the decoder's limits is refused before it is buffered")
    func limits() {
        var parser = ProxyRequestParser(limits: RESPDecoder.Limits(maxBulkLength: 1024, maxLineLength: 64, maxReplyBytes: 4096))
        parser.append(ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$100000\r\n"))
        #expect(throws: CacheError.self) { _ = try parser.all() }
        var inline = ProxyRequestParser(limits: RESPDecoder.Limits(maxLineLength: 64))
        inline.append(ByteBuffer(string: String(repeating: "A", count: 100)))
        let error = #expect(throws: CacheError.self) { _ = try inline.all() }
        #expect(error?.code == .protocolError)
    }

    @Test("the one-pass reading of a whole command agrees with the decoder, and leaves everything else to it")
    func onePass() throws {
        var generator = SystemRandomNumberGenerator()
        let limits = RESPDecoder.Limits()
        for _ in 0..<500 {
            var arguments: [ByteBuffer] = [ByteBuffer(string: ["SET", "get", "MSET", "Del"].randomElement(using: &generator)!)]
            for _ in 0..<Int.random(in: 0..<6, using: &generator) {
                arguments.append(ByteBuffer(bytes: (0..<Int.random(in: 0..<40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }))
            }
            var wire = ByteBuffer()
            ProxyRequest(arguments).write(into: &wire)
            var decoded = wire
            var decoder = RESPDecoder(limits: limits)
            guard case .array(let elements) = try #require(try decoder.decode(&decoded)) else {
                Issue.record("not an array")
                continue
            }
            var buffer = wire
            buffer.writeString("*1\r\n$4\r\nPING\r\n")
            let request = try #require(ProxyRequestParser.whole(&buffer, limits: limits))
            #expect(request.arguments == elements.map { $0.bytes! })
            #expect(request.wire == wire)
            #expect(buffer == ByteBuffer(string: "*1\r\n$4\r\nPING\r\n"), "only the command is taken")
        }
        // Anything else is left whole to the decoder: partial, empty, other types, nulls, signs,
        // leading zeros, a bad terminator, past a limit.
        for wire in [
            "*2\r\n$3\r\nGET\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk", "*0\r\n", "*1\r\n:1\r\n", "*1\r\n$-1\r\n", "*+1\r\n$1\r\na\r\n",
            "*1\r\n$01\r\na\r\n", "*1\r\n$1\r\nab\r\n", "PING\r\n", "*1\r\n$99999999999999999999\r\n", "*1\r\n$2000\r\n",
        ] {
            var buffer = ByteBuffer(string: wire)
            #expect(ProxyRequestParser.whole(&buffer, limits: RESPDecoder.Limits(maxBulkLength: 1024)) == nil, "\(wire)")
            #expect(buffer == ByteBuffer(string: wire))
        }
        var small = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n")
        #expect(ProxyRequestParser.whole(&small, limits: RESPDecoder.Limits(maxReplyBytes: 40)) == nil, "the decoder's cost: bytes and elements")
        // A leading zero is still read, by the decoder.
        var parser = ProxyRequestParser()
        parser.append(ByteBuffer(string: "*1\r\n$04\r\nPING\r\n"))
        #expect(try parser.all().map(strings) == [["PING"]])
    }

    @Test("RESP values written back decode to the same values")
    func writerRoundTrip() throws {
        let values: [RESPValue] = [
            .simpleString(ByteBuffer(string: "OK")), .error(ByteBuffer(string: "ERR no")), .integer(-42),
            .bulkString(ByteBuffer(bytes: [0, 13, 10, 255])), .null, .double(1.5), .boolean(true), .bigNumber(ByteBuffer(string: "123456789012345678901234567890")),
            .verbatimString(format: ByteBuffer(string: "txt"), ByteBuffer(string: "some text")),
            .array([.integer(1), .array([])]), .set([.integer(2)]), .push([.bulkString(ByteBuffer(string: "message"))]),
            .map([RESPMapEntry(key: .simpleString(ByteBuffer(string: "k")), value: .integer(3))]),
        ]
        for value in values {
            var buffer = ByteBuffer()
            RESPValueWriter.write(value, resp3: true, into: &buffer)
            var decoder = RESPDecoder()
            #expect(try decoder.decode(&buffer) == value)
            #expect(buffer.readableBytes == 0)
        }
        var resp2 = ByteBuffer()
        RESPValueWriter.write(.null, resp3: false, into: &resp2)
        #expect(String(buffer: resp2) == "$-1\r\n")
    }
}
