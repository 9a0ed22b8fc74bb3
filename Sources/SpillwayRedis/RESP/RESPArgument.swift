public import NIOCore
public import Spillway

/// A value that can be sent as one argument of a Redis command (one RESP bulk string).
public protocol RESPArgument: Sendable {
    /// Appends the argument to `buffer` as a RESP bulk string (`$len\r\n…\r\n`).
    func writeBulk(into buffer: inout ByteBuffer)
}

extension String: RESPArgument {
    /// Writes the string's UTF-8 bytes as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) {
        var copy = self
        copy.withUTF8 { buffer.writeRESPBulk(UnsafeRawBufferPointer($0)) }
    }
}

extension Substring: RESPArgument {
    /// Writes the substring's UTF-8 bytes as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) { String(self).writeBulk(into: &buffer) }
}

extension ByteBuffer: RESPArgument {
    /// Writes the buffer's readable bytes as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) { buffer.writeRESPBulk(self) }
}

extension CacheKey: RESPArgument {
    /// Writes the key's bytes as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) { buffer.writeRESPBulk(bytes) }
}

extension Int: RESPArgument {
    /// Writes the integer in decimal as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) { buffer.writeRESPBulk(Int64(self)) }
}

extension Int64: RESPArgument {
    /// Writes the integer in decimal as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) { buffer.writeRESPBulk(self) }
}

extension Array: RESPArgument where Element == UInt8 {
    /// Writes the bytes as a bulk string.
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) {
        withUnsafeBytes { buffer.writeRESPBulk($0) }
    }
}

extension ByteBuffer {
    /// Writes a RESP array header, `*count\r\n`, which starts a command of `count` arguments.
    @inlinable
    public mutating func writeRESPArrayHeader(_ count: Int) {
        writeInteger(UInt8(ascii: "*"))
        writeDecimal(Int64(count))
        writeRESPCRLF()
    }

    /// Writes raw bytes as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ bytes: UnsafeRawBufferPointer) {
        writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(bytes.count))
        writeRESPCRLF()
        writeBytes(bytes)
        writeRESPCRLF()
    }

    /// Writes another buffer's readable bytes as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ bytes: ByteBuffer) {
        writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(bytes.readableBytes))
        writeRESPCRLF()
        writeImmutableBuffer(bytes)
        writeRESPCRLF()
    }

    /// Writes an integer, in decimal, as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ value: Int64) {
        writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(Self.decimalLength(value)))
        writeRESPCRLF()
        writeDecimal(value)
        writeRESPCRLF()
    }

    @inlinable
    mutating func writeRESPCRLF() {
        writeInteger(UInt16(0x0D0A), endianness: .big)
    }

    @inlinable
    static func decimalLength(_ value: Int64) -> Int {
        var n = value.magnitude
        var length = value < 0 ? 2 : 1
        while n >= 10 {
            n /= 10
            length += 1
        }
        return length
    }

    /// Writes `value` in decimal ASCII, with no allocation.
    @inlinable
    mutating func writeDecimal(_ value: Int64) {
        let length = Self.decimalLength(value)
        let start = writerIndex
        reserveCapacity(minimumWritableBytes: length)
        var n = value.magnitude
        var i = length
        _ = setInteger(UInt8(ascii: "-"), at: start)
        repeat {
            i -= 1
            _ = setInteger(UInt8(ascii: "0") &+ UInt8(n % 10), at: start + i)
            n /= 10
        } while n > 0
        moveWriterIndex(forwardBy: length)
    }
}
