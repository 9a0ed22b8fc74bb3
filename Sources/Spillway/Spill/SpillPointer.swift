package import NIOCore

/// The small value the cache holds in place of a spilled value (a claim check).
///
/// Byte layout (all integers big-endian), `n` being the store name's length:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `FF 53 50 49 4C 4C 57 59` (`\xFF` then `SPILLWY`) |
/// | 8 | 1 | kind `0x50` (`P`, pointer) |
/// | 9 | 1 | version, `2` |
/// | 10 | 1 | flags: bit 0 set when an expiry is present; other bits zero |
/// | 11 | 1 | `n`, the store name's length, 1...255 |
/// | 12 | n | store name, UTF-8 |
/// | 12+n | 16 | blob id (high 64 bits, then low) |
/// | 28+n | 8 | content length in bytes |
/// | 36+n | 16 | XXH3-128 of the content keyed with the deployment secret (high, then low) |
/// | 52+n | 8 | expiry, milliseconds since 1970 (0 when the flag is clear) |
/// | 60+n | 16 | keyed XXH3-128 of the final key the pointer was written under (high, then low) |
///
/// The encoding is exactly `76 + n` bytes. The key digest binds the pointer to its key: a
/// pointer copied under another key reads as a miss (see ``ValueSpill``). Version 1 (without
/// the key digest, content digest unkeyed) is no longer read: it decodes as
/// ``SpillEnvelope/MalformedReason/unknownVersion``. See ``SpillEnvelope`` for raw values and
/// escaping.
@usableFromInline
package struct SpillPointer: Sendable, Hashable {
    /// The store holding the blob.
    package var storeName: String
    /// The blob.
    package var id: BlobID
    /// The content's length in bytes.
    package var length: UInt64
    /// XXH3-128 of the content, keyed with the deployment secret.
    package var digest: XXH128Digest
    /// Keyed XXH3-128 of the final key the pointer was written under (``ValueSpill`` derives the
    /// key from the deployment secret), checked on every read.
    package var keyDigest: XXH128Digest
    /// When the blob may be reclaimed regardless of the key, if set.
    package var expiresAt: BlobTimestamp?

    /// The version this code writes and reads.
    package static let version: UInt8 = 2
    /// The kind byte of a pointer.
    package static let kind: UInt8 = 0x50
    /// Encoded size without the store name.
    package static let fixedSize = 76
    /// The largest encoded pointer (a 255-byte store name).
    package static let maxEncodedSize = fixedSize + 255

    /// Creates a pointer.
    package init(storeName: String, id: BlobID, length: UInt64, digest: XXH128Digest, keyDigest: XXH128Digest, expiresAt: BlobTimestamp?) {
        self.storeName = storeName
        self.id = id
        self.length = length
        self.digest = digest
        self.keyDigest = keyDigest
        self.expiresAt = expiresAt
    }

    /// Whether a store name fits the envelope (1 to 255 UTF-8 bytes).
    package static func isValidStoreName(_ name: String) -> Bool {
        (1...255).contains(name.utf8.count)
    }

    /// The encoded envelope.
    /// - Precondition: ``storeName`` is 1 to 255 UTF-8 bytes (stores are checked when
    ///   ``ValueSpill`` is created).
    package func encoded() -> ByteBuffer {
        let name = storeName.utf8
        precondition(Self.isValidStoreName(storeName), "store name must be 1...255 UTF-8 bytes")
        var out = ByteBuffer()
        out.reserveCapacity(Self.fixedSize + name.count)
        out.writeBytes(SpillEnvelope.magic)
        out.writeInteger(Self.kind)
        out.writeInteger(Self.version)
        out.writeInteger(UInt8(expiresAt == nil ? 0 : 1))
        out.writeInteger(UInt8(name.count))
        out.writeBytes(name)
        out.writeInteger(id.high)
        out.writeInteger(id.low)
        out.writeInteger(length)
        out.writeInteger(digest.high)
        out.writeInteger(digest.low)
        out.writeInteger(expiresAt?.millisecondsSince1970 ?? 0)
        out.writeInteger(keyDigest.high)
        out.writeInteger(keyDigest.low)
        return out
    }

    /// Decodes an envelope whose magic and kind byte were already checked.
    /// - Returns: the pointer, or a reason why the bytes are not a valid one. Never traps.
    static func decode(_ buffer: ByteBuffer) -> Result<SpillPointer, SpillEnvelope.MalformedReason> {
        var b = buffer
        guard b.readableBytes > SpillEnvelope.magic.count + 1 else { return .failure(.truncated) }
        b.moveReaderIndex(forwardBy: SpillEnvelope.magic.count + 1)
        // The version first: a pointer of another version (shorter or longer) says so.
        guard let version = b.readInteger(as: UInt8.self), version == Self.version else {
            return .failure(.unknownVersion)
        }
        guard buffer.readableBytes >= Self.fixedSize + 1 else { return .failure(.truncated) }
        guard let flags = b.readInteger(as: UInt8.self), flags & ~1 == 0 else { return .failure(.badFlags) }
        guard let nameLength = b.readInteger(as: UInt8.self), nameLength > 0 else { return .failure(.badStoreName) }
        guard b.readableBytes == Int(nameLength) + Self.fixedSize - 12 else { return .failure(.truncated) }
        // The name must be valid UTF-8 as it stands: decoding with replacement characters would
        // let two byte strings name the same pointer (found by scripts/fuzz-spill.sh).
        guard let nameBytes = b.readSlice(length: Int(nameLength)) else { return .failure(.truncated) }
        guard let name = String(validating: nameBytes.readableBytesView, as: UTF8.self) else { return .failure(.badStoreName) }
        guard
            let high = b.readInteger(as: UInt64.self), let low = b.readInteger(as: UInt64.self),
            let length = b.readInteger(as: UInt64.self),
            let dHigh = b.readInteger(as: UInt64.self), let dLow = b.readInteger(as: UInt64.self),
            let expiry = b.readInteger(as: Int64.self),
            let kHigh = b.readInteger(as: UInt64.self), let kLow = b.readInteger(as: UInt64.self)
        else { return .failure(.truncated) }
        if flags == 0 && expiry != 0 { return .failure(.badFlags) }
        return .success(
            SpillPointer(
                storeName: name, id: BlobID(high: high, low: low), length: length,
                digest: XXH128Digest(high: dHigh, low: dLow), keyDigest: XXH128Digest(high: kHigh, low: kLow),
                expiresAt: flags & 1 == 1 ? BlobTimestamp(millisecondsSince1970: expiry) : nil
            ))
    }
}
