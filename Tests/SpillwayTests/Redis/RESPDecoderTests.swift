import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

@Suite("RESP decoder")
struct RESPDecoderTests {
    let decoder = RESPDecoder()

    func decodeAll(_ text: String) throws -> [RESPValue] {
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try decoder.decode(&buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "bytes left over")
        return values
    }

    func s(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("every RESP3 type")
    func types() throws {
        let values = try decodeAll(
            "+OK\r\n-ERR bad\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n_\r\n,3.5\r\n,-inf\r\n#t\r\n#f\r\n"
                + "(12345678901234567890\r\n=8\r\ntxt:abcd\r\n!3\r\nBAD\r\n*2\r\n:1\r\n$1\r\nx\r\n~1\r\n+a\r\n%1\r\n+k\r\n:7\r\n>2\r\n+p\r\n+q\r\n"
                + "|1\r\n+ttl\r\n:3\r\n:99\r\n"
        )
        let expected: [RESPValue] = [
            .simpleString(s("OK")), .error(s("ERR bad")), .integer(-42), .bulkString(s("he\r\no")), .bulkString(s("")), .null, .null,
            .null, .double(3.5), .double(-.infinity), .boolean(true), .boolean(false), .bigNumber(s("12345678901234567890")),
            .verbatimString(format: s("txt"), s("abcd")), .error(s("BAD")), .array([.integer(1), .bulkString(s("x"))]),
            .set([.simpleString(s("a"))]), .map([RESPMapEntry(key: .simpleString(s("k")), value: .integer(7))]),
            .push([.simpleString(s("p")), .simpleString(s("q"))]), .integer(99),
        ]
        #expect(values == expected)
    }

    @Test("integer limits")
    func integers() throws {
        #expect(try decodeAll(":9223372036854775807\r\n:-9223372036854775808\r\n") == [.integer(.max), .integer(.min)])
        var overflow = s(":9223372036854775808\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&overflow) }
    }

    @Test("every prefix of a stream is incomplete and leaves the buffer untouched")
    func partialFrames() throws {
        let stream = "*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n*2\r\n:1\r\n_\r\n,1.5\r\n"
        let bytes = Array(stream.utf8)
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<cut])
            let before = buffer.readerIndex
            #expect(try decoder.decode(&buffer) == nil, "prefix of \(cut) bytes")
            #expect(buffer.readerIndex == before)
        }
        var whole = ByteBuffer(bytes: bytes)
        let value = try #require(try decoder.decode(&whole))
        #expect(value.elements?.count == 3)
        #expect(whole.readableBytes == 0)
    }

    @Test("bytes fed one at a time decode to the same values")
    func byteByByte() throws {
        let stream = "+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n:2\r\n"
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in stream.utf8 {
            buffer.writeInteger(byte)
            while let value = try decoder.decode(&buffer) { values.append(value) }
        }
        #expect(values == [.simpleString(s("OK")), .bulkString(s("abc")), .array([.integer(1), .integer(2)])])
    }

    @Test(
        "garbage is a protocolError",
        arguments: [
            "X\r\n", "+OK\rX", "+O\nK\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcde\r\n", "$x\r\n", "*-2\r\n",
            "#x\r\n", "#tt\r\n", "_x\r\n", ",abc\r\n", ",\r\n", "=2\r\nab\r\n", "=5\r\ntxtab\r\n", "(12x\r\n", "$?\r\n",
            "*?\r\n", "~-1\r\n", "%-1\r\n", "$536870913\r\n", "*2\r\n:1\r\nZ\r\n", ":99999999999999999999\r\n",
        ]
    )
    func garbage(_ text: String) {
        var buffer = ByteBuffer(string: text)
        #expect {
            _ = try decoder.decode(&buffer)
        } throws: { error in
            (error as? CacheError)?.code == .protocolError
        }
    }

    @Test("nesting deeper than the limit is refused, not recursed into")
    func depth() throws {
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 10_000) + ":1\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&deep) }
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 31) + ":1\r\n")
        #expect(try decoder.decode(&ok) != nil)
    }

    @Test("huge declared sizes neither allocate nor wait forever")
    func declaredSizes() throws {
        var count = ByteBuffer(string: "*16777216\r\n:1\r\n")
        #expect(try decoder.decode(&count) == nil)
        var tooMany = ByteBuffer(string: "*16777217\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&tooMany) }
        var longLine = ByteBuffer(string: "+" + String(repeating: "a", count: 70_000))
        #expect(throws: CacheError.self) { try decoder.decode(&longLine) }
        let small = RESPDecoder(limits: .init(maxBulkLength: 10))
        var bulk = ByteBuffer(string: "$11\r\n")
        #expect(throws: CacheError.self) { try small.decode(&bulk) }
    }

    @Test("random bytes never crash the decoder")
    func randomBytes() {
        var generator = SplitMix64(seed: 42)
        let alphabet = Array("+-:$*_,#(=!~%>|\r\n0123456789-?atf".utf8)
        var failures = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 40)
            var buffer = ByteBuffer()
            for _ in 0..<length {
                let r = generator.next()
                buffer.writeInteger(r % 4 == 0 ? UInt8(truncatingIfNeeded: r >> 8) : alphabet[Int((r >> 8) % UInt64(alphabet.count))])
            }
            do {
                while let _ = try decoder.decode(&buffer) {}
            } catch {
                failures += 1
                #expect(error.code == .protocolError)
            }
        }
        #expect(failures > 0)
    }

    @Test("commands encode as arrays of bulk strings")
    func encoding() {
        var buffer = ByteBuffer()
        buffer.writeRESPArrayHeader(4)
        "SET".writeBulk(into: &buffer)
        CacheKey("k").writeBulk(into: &buffer)
        Int64(-1234).writeBulk(into: &buffer)
        Int(0).writeBulk(into: &buffer)
        #expect(String(buffer: buffer) == "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n-1234\r\n$1\r\n0\r\n")
        var big = ByteBuffer()
        Int64.min.writeBulk(into: &big)
        #expect(String(buffer: big) == "$20\r\n-9223372036854775808\r\n")
    }

    @Test("a batch decodes up to its count in one pass and leaves a partial value in place")
    func batchDecoding() throws {
        var buffer = ByteBuffer(string: "$1\r\na\r\n:2\r\n+OK\r\n$5\r\nhel")
        var values: [RESPValue] = []
        #expect(try decoder.decode(&buffer, maxCount: 2, into: &values) == 2)
        #expect(values == [.bulkString(s("a")), .integer(2)])
        #expect(try decoder.decode(&buffer, maxCount: 10, into: &values) == 1, "stops before the partial bulk string")
        #expect(values.last == .simpleString(s("OK")))
        #expect(String(buffer: buffer) == "$5\r\nhel", "the partial value stays, untouched")
        buffer.writeString("lo\r\n")
        #expect(try decoder.decode(&buffer, maxCount: 10, into: &values) == 1)
        #expect(values.last == .bulkString(s("hello")) && buffer.readableBytes == 0)
        var bad = ByteBuffer(string: ":1\r\n?x\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&bad, maxCount: 5, into: &values) }
    }
}
