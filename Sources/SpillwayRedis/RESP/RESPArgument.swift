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
        let written: Void? = utf8.withContiguousStorageIfAvailable { buffer.writeRESPBulk(UnsafeRawBufferPointer($0)) }
        if written == nil {
            var copy = self
            copy.withUTF8 { buffer.writeRESPBulk(UnsafeRawBufferPointer($0)) }
        }
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
    // Every writer below makes one `writeWithUnsafeMutableBytes` call and stores the bytes
    // through a pointer: a command is then a handful of buffer operations, not one per byte
    // (each ByteBuffer call checks uniqueness, capacity and exclusivity).

    /// Writes a RESP array header, `*count\r\n`, which starts a command of `count` arguments.
    @inlinable
    public mutating func writeRESPArrayHeader(_ count: Int) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: Self.headerLength(count)) { out in
            Self.storeHeader(UInt8(ascii: "*"), count, at: out.baseAddress!)
        }
    }

    /// Writes raw bytes as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        let total = Self.headerLength(n) + n + 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            let p = out.baseAddress!
            let header = Self.storeHeader(UInt8(ascii: "$"), n, at: p)
            if n > 0 { (p + header).copyMemory(from: bytes.baseAddress!, byteCount: n) }
            Self.storeCRLF(at: p + header + n)
            return total
        }
    }

    /// Writes another buffer's readable bytes as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { writeRESPBulk($0) }
    }

    /// Writes an integer, in decimal, as a RESP bulk string.
    @inlinable
    public mutating func writeRESPBulk(_ value: Int64) {
        let length = Self.decimalLength(value)
        let total = Self.headerLength(length) + length + 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            let p = out.baseAddress!
            let header = Self.storeHeader(UInt8(ascii: "$"), length, at: p)
            Self.storeDecimal(value, length: length, at: p + header)
            Self.storeCRLF(at: p + header + length)
            return total
        }
    }

    /// The size of a `<marker><count>\r\n` header.
    @inlinable
    static func headerLength(_ count: Int) -> Int {
        decimalLength(Int64(count)) + 3
    }

    /// Stores a `<marker><count>\r\n` header (`*` for an array, `$` for a bulk string) at `p`.
    /// - Returns: its length, ``headerLength(_:)``.
    @inlinable
    @discardableResult
    static func storeHeader(_ marker: UInt8, _ count: Int, at p: UnsafeMutableRawPointer) -> Int {
        let digits = decimalLength(Int64(count))
        p.storeBytes(of: marker, as: UInt8.self)
        storeDecimal(Int64(count), length: digits, at: p + 1)
        storeCRLF(at: p + 1 + digits)
        return digits + 3
    }

    @inlinable
    static func storeCRLF(at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt8(ascii: "\r"), as: UInt8.self)
        (p + 1).storeBytes(of: UInt8(ascii: "\n"), as: UInt8.self)
    }

    /// Stores `value` in decimal ASCII at `p`, taking exactly `length` bytes
    /// (``decimalLength(_:)``).
    @inlinable
    static func storeDecimal(_ value: Int64, length: Int, at p: UnsafeMutableRawPointer) {
        var n = value.magnitude
        var i = length
        if value < 0 { p.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        repeat {
            i -= 1
            (p + i).storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n % 10), as: UInt8.self)
            n /= 10
        } while n > 0
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
        writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            Self.storeDecimal(value, length: length, at: out.baseAddress!)
            return length
        }
    }
}
