public import NIOCore
public import Spillway
public import SpillwayRedis

/// Takes the commands a client sends off its byte stream, as they arrive: RESP arrays of bulk
/// strings (what every client library sends) and inline commands (`PING\r\n`, what a human types
/// into `telnet`), with the RESP decoder's limits.
///
/// A pure value, tested without sockets. Bytes that are not a command throw
/// `CacheError(.protocolError)` (an array of something else than bulk strings, an empty array, a
/// line past ``RESPDecoder/Limits/maxLineLength``) or `CacheError(.tooLarge)` (a request larger
/// than ``RESPDecoder/Limits/maxReplyBytes``); the connection is then answered with an error and
/// closed, as Redis does.
public struct ProxyRequestParser: Sendable {
    /// The buffering and the RESP framing, shared with the client's reply reading.
    private var reader: RESPReplyReader

    /// Creates a parser with the decoder's limits.
    public init(limits: RESPDecoder.Limits = RESPDecoder.Limits()) {
        self.reader = RESPReplyReader(decoder: RESPDecoder(limits: limits))
    }

    /// The limits in force.
    public var limits: RESPDecoder.Limits { reader.decoder.limits }

    /// Bytes received and not yet taken as (part of) a command.
    public var bufferedBytes: Int { reader.bufferedBytes }

    /// Appends one read from the client.
    public mutating func append(_ read: ByteBuffer) {
        reader.append(read)
    }

    /// The next complete command, or `nil` until more bytes arrive. A command read whole keeps
    /// its bytes (``ProxyRequest/wire``).
    /// - Throws: `CacheError(.protocolError)` or `CacheError(.tooLarge)`; the parser is then empty
    ///   and the connection should be closed.
    public mutating func next() throws(CacheError) -> ProxyRequest? {
        let limits = self.limits
        if !reader.decoder.isInsideReply, let request = try reader.withUnreadBytes({ Self.whole(&$0, limits: limits) }) ?? nil {
            return request
        }
        while !reader.decoder.isInsideReply {
            // An inline command: a line that does not start with `*`.
            let inline: [ByteBuffer]?? =
                try reader.withUnreadBytes { current throws(CacheError) -> [ByteBuffer]?? in
                    guard let first = current.getInteger(at: current.readerIndex, as: UInt8.self) else { return .some(nil) }
                    if first == UInt8(ascii: "*") { return nil }
                    return .some(try Self.inline(&current, limits: limits))
                } ?? .some(nil)
            guard let words = inline else { break }  // RESP: decoded below
            guard let words else { return nil }  // nothing buffered, or a partial line
            if words.isEmpty { continue }  // an empty line: Redis ignores it
            return ProxyRequest(words)
        }
        guard let (value, wire) = try reader.nextWithWire() else { return nil }
        do {
            return try Self.request(from: value, wire: wire)
        } catch {
            reader.reset()
            throw error
        }
    }

    /// Every complete command buffered now, in order.
    /// - Throws: as ``next()``; the commands before the bad bytes are then lost with the
    ///   connection.
    public mutating func all() throws(CacheError) -> [ProxyRequest] {
        var out: [ProxyRequest] = []
        while let request = try next() { out.append(request) }
        return out
    }

    /// Drops everything buffered.
    public mutating func reset() {
        reader.reset()
    }

    /// A RESP value as a command: a non-empty array of bulk strings.
    static func request(from value: RESPValue, wire: ByteBuffer? = nil) throws(CacheError) -> ProxyRequest {
        guard case .array(let elements) = value else {
            throw CacheError(.protocolError, "Protocol error: expected an array of bulk strings")
        }
        guard !elements.isEmpty else { throw CacheError(.protocolError, "Protocol error: empty command") }
        var arguments: [ByteBuffer] = []
        arguments.reserveCapacity(elements.count)
        for element in elements {
            guard case .bulkString(let bytes) = element else {
                throw CacheError(.protocolError, "Protocol error: expected '$', got another RESP type")
            }
            arguments.append(bytes)
        }
        return ProxyRequest(arguments, wire: wire)
    }

    /// The common case read in one pass, without the decoder: a whole, well-formed array of
    /// bulk strings within the limits (the length digits plain, without sign or leading zero),
    /// taken off `buffer` with its bytes. `nil` for anything else (a partial command, an inline
    /// one, other types, a limit reached), and `buffer` is left as it was for the decoder, which
    /// decides exactly as before.
    package static func whole(_ buffer: inout ByteBuffer, limits: RESPDecoder.Limits) -> ProxyRequest? {
        let start = buffer.readerIndex
        let parsed = buffer.withUnsafeReadableBytes { bytes -> (ranges: [Range<Int>], end: Int)? in
            let end = bytes.count
            /// The decimal number at `i` up to `\r\n`, and the index after them.
            func number(_ i: Int, limit: Int) -> (Int, Int)? {
                var i = i
                var value = 0
                let first = i
                while i < end, i - first < 18 {
                    let byte = bytes[i]
                    if byte == UInt8(ascii: "\r") { break }
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    i += 1
                }
                guard i > first, i + 1 < end, bytes[i] == UInt8(ascii: "\r"), bytes[i + 1] == UInt8(ascii: "\n"), value <= limit else { return nil }
                if i - first > 1 && bytes[first] == UInt8(ascii: "0") { return nil }
                return (value, i + 2)
            }
            guard end >= 4, bytes[0] == UInt8(ascii: "*"), let (count, afterCount) = number(1, limit: limits.maxAggregateCount), count > 0 else {
                return nil
            }
            var ranges: [Range<Int>] = []
            ranges.reserveCapacity(min(count, end / 6 + 1))
            var i = afterCount
            for _ in 0..<count {
                guard i < end, bytes[i] == UInt8(ascii: "$"), let (length, payload) = number(i + 1, limit: limits.maxBulkLength),
                    end - payload >= length + 2, bytes[payload + length] == UInt8(ascii: "\r"), bytes[payload + length + 1] == UInt8(ascii: "\n")
                else { return nil }
                ranges.append(payload..<payload + length)
                i = payload + length + 2
            }
            // What the decoder charges: the bytes, and one decoded value per element.
            guard i <= limits.maxReplyBytes - count * RESPDecoder.Limits.elementOverhead else { return nil }
            return (ranges, i)
        }
        guard let parsed else { return nil }
        var arguments: [ByteBuffer] = []
        arguments.reserveCapacity(parsed.ranges.count)
        for range in parsed.ranges { arguments.append(buffer.getSlice(at: start + range.lowerBound, length: range.count)!) }
        let wire = buffer.readSlice(length: parsed.end)
        return ProxyRequest(arguments, wire: wire)
    }

    /// One inline command line, split on spaces and tabs; `nil` until its `\n` arrives.
    private static func inline(_ current: inout ByteBuffer, limits: RESPDecoder.Limits) throws(CacheError) -> [ByteBuffer]? {
        let view = current.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > limits.maxLineLength {
                throw CacheError(.protocolError, "Protocol error: too big inline request")
            }
            return nil
        }
        let length = newline - view.startIndex
        if length > limits.maxLineLength {
            throw CacheError(.protocolError, "Protocol error: too big inline request")
        }
        var line = current.readSlice(length: length + 1)!
        line.moveWriterIndex(to: line.writerIndex - 1)
        if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        var words: [ByteBuffer] = []
        var start: Int? = nil
        let base = line.readerIndex
        let bytes = line.readableBytesView
        for (offset, byte) in bytes.enumerated() {
            let isSpace = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            if isSpace {
                if let s = start {
                    words.append(line.getSlice(at: base + s, length: offset - s)!)
                    start = nil
                }
            } else if start == nil {
                start = offset
            }
        }
        if let s = start { words.append(line.getSlice(at: base + s, length: bytes.count - s)!) }
        return words
    }
}
