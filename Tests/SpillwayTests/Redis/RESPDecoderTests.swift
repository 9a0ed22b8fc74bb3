import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

@Suite("RESP decoder")
struct RESPDecoderTests {
    func decodeAll(_ text: String) throws -> [RESPValue] {
        var decoder = RESPDecoder()
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
        var decoder = RESPDecoder()
        var overflow = s(":9223372036854775808\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&overflow) }
    }

    @Test("every prefix of a stream is incomplete, and the rest completes it without parsing again")
    func partialFrames() throws {
        let stream = "*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n*2\r\n:1\r\n_\r\n,1.5\r\n"
        let bytes = Array(stream.utf8)
        var reference = RESPDecoder()
        var whole = ByteBuffer(bytes: bytes)
        let expected = try #require(try reference.decode(&whole))
        #expect(expected.elements?.count == 3)
        #expect(whole.readableBytes == 0 && !reference.isInsideReply)
        for cut in 0..<bytes.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes[0..<cut])
            #expect(try decoder.decode(&buffer) == nil, "prefix of \(cut) bytes")
            buffer.writeBytes(bytes[cut...])
            #expect(try decoder.decode(&buffer) == expected, "cut at \(cut)")
            #expect(buffer.readableBytes == 0 && !decoder.isInsideReply)
        }
    }

    @Test("bytes fed one at a time decode to the same values")
    func byteByByte() throws {
        let stream = "+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n:2\r\n"
        var decoder = RESPDecoder()
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
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: text)
        #expect {
            _ = try decoder.decode(&buffer)
        } throws: { error in
            (error as? CacheError)?.code == .protocolError
        }
    }

    @Test("nesting deeper than the limit is refused, not recursed into")
    func depth() throws {
        var decoder = RESPDecoder()
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 10_000) + ":1\r\n")
        #expect(throws: CacheError.self) { try decoder.decode(&deep) }
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 31) + ":1\r\n")
        #expect(try decoder.decode(&ok) != nil)
    }

    @Test("huge declared sizes neither allocate nor wait forever")
    func declaredSizes() throws {
        var decoder = RESPDecoder(limits: .init(maxReplyBytes: .max))
        var count = ByteBuffer(string: "*16777216\r\n:1\r\n")
        #expect(try decoder.decode(&count) == nil)
        var fresh = RESPDecoder()
        var tooMany = ByteBuffer(string: "*16777217\r\n")
        #expect(throws: CacheError.self) { try fresh.decode(&tooMany) }
        var longLine = ByteBuffer(string: "+" + String(repeating: "a", count: 70_000))
        #expect(throws: CacheError.self) { try fresh.decode(&longLine) }
        var small = RESPDecoder(limits: .init(maxBulkLength: 10))
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
            var decoder = RESPDecoder()
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
        var decoder = RESPDecoder()
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

    /// `count` elements of `element`, as an array reply, in reads of `readSize` bytes.
    static func arrayReply(_ count: Int, element: String, readSize: Int, header: String = "*") -> [ByteBuffer] {
        var whole = ByteBuffer(string: "\(header)\(count)\r\n")
        let one = ByteBuffer(string: element)
        for _ in 0..<count { whole.writeImmutableBuffer(one) }
        var reads: [ByteBuffer] = []
        while whole.readableBytes > 0 { reads.append(whole.readSlice(length: min(readSize, whole.readableBytes))!) }
        return reads
    }

    @Test("a big array arriving in 64 KiB reads is consumed as it comes: only a partial element waits")
    func bigArrayInReads() throws {
        let reads = Self.arrayReply(200_000, element: "$5\r\nvalue\r\n", readSize: 64 * 1024)
        var reader = RESPReplyReader(decoder: RESPDecoder())
        var reply: RESPValue?
        for (index, read) in reads.enumerated() {
            reader.append(read)
            reply = try reader.next()
            if index < reads.count - 1 {
                #expect(reply == nil)
                // Everything but one partial element (11 bytes) has been taken by the decoder, so
                // nothing is parsed twice.
                #expect(reader.bufferedBytes < 11, "read \(index) left \(reader.bufferedBytes) bytes")
                #expect(reader.decoder.isInsideReply)
            }
        }
        let elements = try #require(reply?.elements)
        #expect(elements.count == 200_000)
        #expect(elements.allSatisfy { $0 == .bulkString(ByteBuffer(string: "value")) })
        #expect(reader.bufferedBytes == 0 && !reader.decoder.isInsideReply)
    }

    @Test("nextWithWire hands each value read whole with its bytes, and none for an aggregate cut across reads")
    func valuesWithTheirBytes() throws {
        var reader = RESPReplyReader(decoder: RESPDecoder())
        reader.append(ByteBuffer(string: ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+PONG\r\n"))
        var got: [(RESPValue, String?)] = []
        while let (value, wire) = try reader.nextWithWire() { got.append((value, wire.map { String(buffer: $0) })) }
        #expect(got.map(\.1) == [">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", "+PONG\r\n"])
        for bytes in ["*-1\r\n", "$-1\r\n", "_\r\n", "*0\r\n", ":7\r\n"] {
            reader.append(ByteBuffer(string: bytes))
            let (_, wire) = try #require(try reader.nextWithWire())
            #expect(wire.map { String(buffer: $0) } == bytes)
        }
        // An array cut across reads: the value, but not its bytes (the decoder consumed part of
        // them in the first read).
        reader.append(ByteBuffer(string: "*2\r\n$1\r\na\r\n"))
        #expect(try reader.nextWithWire() == nil)
        reader.append(ByteBuffer(string: "$1\r\nb\r\n"))
        let (array, cut) = try #require(try reader.nextWithWire())
        #expect(array == .array([.bulkString(ByteBuffer(string: "a")), .bulkString(ByteBuffer(string: "b"))]))
        #expect(cut == nil)
        #expect(reader.bufferedBytes == 0 && !reader.decoder.isInsideReply)
    }

    @Test("a decoded value is one ByteBuffer wide, and a finished array holds no spare room")
    func valueFootprint() throws {
        // A verbatim string (two buffers) is boxed, so it does not set every value's size.
        #expect(MemoryLayout<RESPValue>.size <= MemoryLayout<ByteBuffer>.size + 1)
        #expect(RESPDecoder.Limits.elementOverhead == MemoryLayout<RESPValue>.stride)
        // The element array grows as elements arrive (doubling, then straight to the declared
        // count once a quarter of it is in) and stops at that count (plain doubling would end at
        // 174,760 slots for 100,000 elements).
        for maps in [false, true] {
            let count = 100_000
            let element = maps ? "+k\r\n:1\r\n" : "$5\r\nvalue\r\n"
            let reads = Self.arrayReply(count, element: element, readSize: 64 * 1024, header: maps ? "%" : "*")
            var reader = RESPReplyReader(decoder: RESPDecoder())
            var reply: RESPValue?
            for read in reads {
                reader.append(read)
                if let value = try reader.next() { reply = value }
            }
            let capacity: Int
            switch try #require(reply) {
            case .array(let elements):
                #expect(elements.count == count)
                capacity = elements.capacity
            case .map(let entries):
                #expect(entries.count == count)
                capacity = entries.capacity
            default:
                Issue.record("not an array or a map: \(String(describing: reply).prefix(80))")
                continue
            }
            #expect(capacity < count + count / 100, "\(maps ? "map" : "array") capacity \(capacity) for \(count)")
        }
    }

    @Test("one reply's cost is capped by maxReplyBytes with tooLarge; the cap is per reply")
    func replyCap() throws {
        let overhead = RESPDecoder.Limits.elementOverhead
        // 1,000 nulls cost 3 + overhead each, plus the header.
        let nulls = "*1000\r\n" + String(repeating: "_\r\n", count: 1000)
        let needed = 7 + 1000 * (3 + overhead)
        var fits = RESPDecoder(limits: .init(maxReplyBytes: needed))
        var twice = ByteBuffer(string: nulls + nulls)
        #expect(try fits.decode(&twice)?.elements?.count == 1000)
        #expect(try fits.decode(&twice)?.elements?.count == 1000, "the second reply starts from zero")

        func tooLarge(_ limit: Int, _ text: String, fedInReadsOf readSize: Int = .max) -> Bool {
            var decoder = RESPDecoder(limits: .init(maxReplyBytes: limit))
            var buffer = ByteBuffer()
            var bytes = ByteBuffer(string: text)
            do {
                while bytes.readableBytes > 0 {
                    var read = bytes.readSlice(length: min(readSize, bytes.readableBytes))!
                    buffer.writeBuffer(&read)
                    while try decoder.decode(&buffer) != nil {}
                }
                return false
            } catch {
                return error.code == .tooLarge && !decoder.isInsideReply
            }
        }
        #expect(tooLarge(needed - 1, nulls, fedInReadsOf: 100), "one byte short, found while the elements arrive")
        #expect(tooLarge(needed - 1, "*1000\r\n"), "refused from the header alone, before any element")
        #expect(tooLarge(1000, "$1000\r\n"), "a bulk string above the cap is refused at its header")
        #expect(!tooLarge(1000, "$980\r\n" + String(repeating: "x", count: 980) + "\r\n"))
        // Four million nulls (12 MB on the wire) are refused under a 64 MiB cap.
        #expect(tooLarge(64 << 20, "*4000000\r\n"))
        // Nested aggregates count their elements at every level.
        #expect(tooLarge(2 * overhead + 20, "*1\r\n*1\r\n*1\r\n:1\r\n"))
    }
}
