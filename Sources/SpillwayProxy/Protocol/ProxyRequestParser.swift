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
    private var decoder: RESPDecoder
    private var buffer: ByteBuffer?

    /// Creates a parser with the decoder's limits.
    public init(limits: RESPDecoder.Limits = RESPDecoder.Limits()) {
        self.decoder = RESPDecoder(limits: limits)
    }

    /// The limits in force.
    public var limits: RESPDecoder.Limits { decoder.limits }

    /// Bytes received and not yet taken as (part of) a command.
    public var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// Appends one read from the client.
    public mutating func append(_ read: ByteBuffer) {
        guard var current = buffer.take(), current.readableBytes > 0 else {
            buffer = read
            return
        }
        var read = read
        if current.readerIndex > 0 {
            var fresh = ByteBufferAllocator().buffer(capacity: current.readableBytes + read.readableBytes)
            fresh.writeBuffer(&current)
            current = fresh
        }
        current.writeBuffer(&read)
        buffer = current
    }

    /// The next complete command, or `nil` until more bytes arrive.
    /// - Throws: `CacheError(.protocolError)` or `CacheError(.tooLarge)`; the parser is then empty
    ///   and the connection should be closed.
    public mutating func next() throws(CacheError) -> ProxyRequest? {
        while var current = buffer.take() {
            defer { if current.readableBytes > 0 { buffer = current } }
            guard let first = current.getInteger(at: current.readerIndex, as: UInt8.self) else { return nil }
            do {
                if !decoder.isInsideReply && first != UInt8(ascii: "*") {
                    guard let words = try inline(&current) else { return nil }
                    if words.isEmpty { continue }  // an empty line: Redis ignores it
                    return ProxyRequest(words)
                }
                guard let value = try decoder.decode(&current) else { return nil }
                return try Self.request(from: value)
            } catch {
                current.clear()
                decoder.reset()
                throw error
            }
        }
        return nil
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
        buffer = nil
        decoder.reset()
    }

    /// A RESP value as a command: a non-empty array of bulk strings.
    static func request(from value: RESPValue) throws(CacheError) -> ProxyRequest {
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
        return ProxyRequest(arguments)
    }

    /// One inline command line, split on spaces and tabs; `nil` until its `\n` arrives.
    private func inline(_ current: inout ByteBuffer) throws(CacheError) -> [ByteBuffer]? {
        let view = current.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > decoder.limits.maxLineLength {
                throw CacheError(.protocolError, "Protocol error: too big inline request")
            }
            return nil
        }
        let length = newline - view.startIndex
        if length > decoder.limits.maxLineLength {
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
