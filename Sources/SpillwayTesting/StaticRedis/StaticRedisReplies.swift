import NIOCore

/// The prebuilt replies of a ``StaticRedisServer``; writing one shares its storage (no copy).
struct StaticRedisReplies: Sendable {
    let ok = ByteBuffer(string: "+OK\r\n")
    /// A null bulk string (RESP2's, which RESP3 clients read too): `SET … GET` with no previous value.
    let null = ByteBuffer(string: "$-1\r\n")
    let pong = ByteBuffer(string: "+PONG\r\n")
    /// `HELLO 3`'s reply: a RESP3 map with the protocol version, enough for a client to take RESP3.
    let hello = ByteBuffer(string: "%1\r\n$5\r\nproto\r\n:3\r\n")
    let unknown = ByteBuffer(string: "-ERR unknown command (this static server answers GET, SET, HELLO and PING)\r\n")
    let protocolError = ByteBuffer(string: "-ERR Protocol error: expected an array of bulk strings\r\n")
    let get: ByteBuffer

    init(getValue: ByteBuffer) {
        var reply = ByteBuffer()
        reply.writeString("$\(getValue.readableBytes)\r\n")
        reply.writeImmutableBuffer(getValue)
        reply.writeString("\r\n")
        get = reply
    }

    /// The reply to a command named by `name` (its first argument's bytes); `returnsPrevious`
    /// when a `SET` carries the `GET` option.
    func reply(to name: UnsafeRawBufferPointer, returnsPrevious: Bool) -> ByteBuffer {
        switch (name.count, name.first.map { $0 | 0x20 }) {
        case (3, UInt8(ascii: "g")) where Self.equalsIgnoringCase(name, "get"): get
        case (3, UInt8(ascii: "s")) where Self.equalsIgnoringCase(name, "set"): returnsPrevious ? null : ok
        case (4, UInt8(ascii: "p")) where Self.equalsIgnoringCase(name, "ping"): pong
        case (5, UInt8(ascii: "h")) where Self.equalsIgnoringCase(name, "hello"): hello
        default: unknown
        }
    }

    /// Whether `bytes` spell `word` (lowercase ASCII letters) in any case.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let w = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for i in 0..<bytes.count where bytes[i] | 0x20 != w[i] { return false }
        return true
    }
}
