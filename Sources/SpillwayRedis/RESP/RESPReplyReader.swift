package import NIOCore
package import Spillway

/// The replies of one connection as their bytes arrive: the reads appended in order, and the
/// ``RESPDecoder`` that takes complete replies off the front. `spillway proxy` reads its
/// clients' requests with it too (``nextWithWire()``, ``withUnreadBytes(_:)``).
///
/// Costs stay linear in the bytes received, however a reply is cut into reads: the decoder keeps
/// its place inside a partial aggregate, and the reader never copies consumed bytes. When a read
/// leaves a partial value behind after something was consumed, only that partial value is copied
/// to a fresh buffer (once); later reads are appended to it in place.
package struct RESPReplyReader: Sendable {
    package var decoder: RESPDecoder
    private var buffer: ByteBuffer?

    package init(decoder: RESPDecoder) {
        self.decoder = decoder
    }

    /// The bytes received and not yet taken as (part of) a reply.
    package var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// Appends one read.
    package mutating func append(_ read: ByteBuffer) {
        guard var current = buffer.take(), current.readableBytes > 0 else {
            buffer = read
            return
        }
        var read = read
        if current.readerIndex > 0 {
            // Values sliced off `current` still share its storage: writing to it would copy all
            // of it. Start a fresh buffer holding only the unread rest.
            var fresh = ByteBufferAllocator().buffer(capacity: current.readableBytes + read.readableBytes)
            fresh.writeBuffer(&current)
            current = fresh
        }
        current.writeBuffer(&read)
        buffer = current
    }

    /// The next complete reply, or `nil` until more bytes arrive.
    /// - Throws: as ``RESPDecoder/decode(_:)``; the reader is then empty.
    package mutating func next() throws(CacheError) -> RESPValue? {
        guard var current = buffer.take() else { return nil }
        defer { if current.readableBytes > 0 { buffer = current } }
        do {
            return try decoder.decode(&current)
        } catch {
            current.clear()
            throw error
        }
    }

    /// Up to `maxCount` complete replies, appended to `values`; returns how many.
    /// - Throws: as ``RESPDecoder/decode(_:)``; the reader is then empty.
    package mutating func next(maxCount: Int, into values: inout [RESPValue]) throws(CacheError) -> Int {
        guard var current = buffer.take() else { return 0 }
        defer { if current.readableBytes > 0 { buffer = current } }
        do {
            return try decoder.decode(&current, maxCount: maxCount, into: &values)
        } catch {
            current.clear()
            throw error
        }
    }

    /// The next complete value and, when it was decoded in one piece (always for a scalar; for
    /// an aggregate unless its bytes were cut across reads), the bytes it was read from, so a
    /// proxy can forward it without encoding it again.
    /// - Throws: as ``RESPDecoder/decode(_:)``; the reader is then empty.
    package mutating func nextWithWire() throws(CacheError) -> (value: RESPValue, wire: ByteBuffer?)? {
        guard var current = buffer.take() else { return nil }
        defer { if current.readableBytes > 0 { buffer = current } }
        // The bytes before decoding: a slice is taken from them, since `getSlice` refuses
        // indices behind the reader index that decoding moved. (A copy of the struct: no bytes
        // are copied.)
        let before = decoder.isInsideReply ? nil : current
        do {
            guard let value = try decoder.decode(&current) else { return nil }
            return (value, before.flatMap { $0.getSlice(at: $0.readerIndex, length: current.readerIndex - $0.readerIndex) })
        } catch {
            current.clear()
            throw error
        }
    }

    /// Runs `body` on the buffered bytes (what it reads is consumed): a caller's own framing
    /// between values, such as a server's inline commands.
    package mutating func withUnreadBytes<Result>(_ body: (inout ByteBuffer) throws(CacheError) -> Result) throws(CacheError) -> Result? {
        guard var current = buffer.take() else { return nil }
        defer { if current.readableBytes > 0 { buffer = current } }
        do {
            return try body(&current)
        } catch {
            current.clear()
            throw error
        }
    }

    /// Drops every buffered byte and the reply in progress.
    package mutating func reset() {
        buffer = nil
        decoder.reset()
    }
}
