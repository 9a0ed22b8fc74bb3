public import NIOCore

/// How a value read from the cache is interpreted, and how raw values are escaped on write.
///
/// - A value that does not start with the 8-byte ``magic`` is a raw value, returned as it is
///   (no copy). The magic begins with `0xFF`, which never occurs in UTF-8 text.
/// - `magic` + `E` (`0x45`) + bytes is an *escaped* raw value: Spillway writes every raw value
///   that starts with the magic this way, and reading strips the 9-byte prefix.
/// - `magic` + `P` (`0x50`) + ... is a ``SpillPointer``.
/// - The magic followed by anything else (or nothing) was not written by Spillway: it is a raw
///   value from another client and is returned unchanged.
///
/// `package`: the format is documented (docs/SPILL.md) but the types are ``ValueSpill``'s own;
/// the proxy, the sweeper, tests and the fuzzer of this package use them.
@usableFromInline
package enum SpillEnvelope: Sendable {
    /// A raw value, to return as it is.
    case raw(ByteBuffer)
    /// A pointer to a spilled blob.
    case pointer(SpillPointer)
    /// Bytes with the pointer prefix that do not decode; never returned as a value.
    case malformed(MalformedReason)

    /// Why an envelope with the pointer prefix could not be decoded.
    @usableFromInline
    package enum MalformedReason: String, Sendable, Hashable, Error {
        /// Too short or too long for its declared store name.
        case truncated
        /// A version this code does not know.
        case unknownVersion
        /// Unknown flag bits, or an expiry without its flag.
        case badFlags
        /// An empty or non-UTF-8 store name.
        case badStoreName
    }

    /// The magic that starts every pointer and every escaped value.
    @usableFromInline package static let magic: [UInt8] = [0xFF, 0x53, 0x50, 0x49, 0x4C, 0x4C, 0x57, 0x59]
    /// The kind byte of an escaped raw value.
    @usableFromInline package static let escapedKind: UInt8 = 0x45

    /// A cheap first test, with no allocation: whether `value` is long enough and starts with the
    /// magic's first byte. Only values passing it need ``decode(_:)`` or escaping.
    @inlinable
    package static func mayBeEnvelope(_ value: ByteBuffer) -> Bool {
        value.readableBytes >= 8 && value.getInteger(at: value.readerIndex, as: UInt8.self) == 0xFF
    }

    /// Whether `value` starts with the full magic.
    package static func hasMagic(_ value: ByteBuffer) -> Bool {
        guard value.readableBytes >= magic.count else { return false }
        return value.withUnsafeReadableBytes { bytes in
            for i in 0..<magic.count where bytes[i] != magic[i] { return false }
            return true
        }
    }

    /// Interprets a value read from the cache. Never traps, whatever the bytes.
    package static func decode(_ value: ByteBuffer) -> SpillEnvelope {
        guard hasMagic(value), value.readableBytes > magic.count else { return .raw(value) }
        let kind = value.getInteger(at: value.readerIndex + magic.count, as: UInt8.self)!
        switch kind {
        case escapedKind:
            return .raw(value.getSlice(at: value.readerIndex + magic.count + 1, length: value.readableBytes - magic.count - 1)!)
        case SpillPointer.kind:
            switch SpillPointer.decode(value) {
            case .success(let pointer): return .pointer(pointer)
            case .failure(let reason): return .malformed(reason)
            }
        default:
            return .raw(value)
        }
    }

    /// The form in which a raw value is written: unchanged, or escaped when it starts with the
    /// magic (so that it can never be read as a pointer).
    @inlinable
    package static func storedForm(ofRaw value: ByteBuffer) -> ByteBuffer {
        guard mayBeEnvelope(value) else { return value }
        return escapeIfNeeded(value)
    }

    @usableFromInline
    static func escapeIfNeeded(_ value: ByteBuffer) -> ByteBuffer {
        guard hasMagic(value) else { return value }
        var out = ByteBuffer()
        out.reserveCapacity(value.readableBytes + magic.count + 1)
        out.writeBytes(magic)
        out.writeInteger(escapedKind)
        out.writeImmutableBuffer(value)
        return out
    }
}
