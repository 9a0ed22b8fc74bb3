internal import CXXHash
public import NIOCore

/// A 128-bit XXH3 digest (`package`: what the key hasher and spill pointers are made of).
@usableFromInline
package struct XXH128Digest: Hashable, Sendable, CustomStringConvertible {
    /// The high 64 bits.
    @usableFromInline package var high: UInt64
    /// The low 64 bits.
    @usableFromInline package var low: UInt64

    /// Creates a digest from its halves.
    @inlinable
    package init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The canonical form, as `xxhsum -H2` prints it: 32 lowercase hex digits, high half first.
    @usableFromInline package var description: String {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { writeHex(into: $0) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical big-endian 16 bytes.
    package var bytes: [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? high >> (56 - 8 * i) : low >> (56 - 8 * (i - 8)))) }
    }

    /// Writes the 32 hex digits into `buffer` (which must hold at least 32 bytes).
    @inlinable
    package func writeHex(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 32)
        XXH3.writeHex(high, into: buffer, at: 0)
        XXH3.writeHex(low, into: buffer, at: 16)
    }
}

/// A secret for keyed XXH3 hashing, derived from deployment key material: what
/// ``KeyHasher/init(secret:readablePrefixBytes:)`` and ``ValueSpill`` take as the deployment
/// secret.
///
/// A keyed hash means that nobody without the secret can craft keys that collide. Derive it with
/// `XXH3Secret(keyMaterial:)` from a secret of your deployment; the hash functions themselves
/// are an implementation detail of the package.
public struct XXH3Secret: Sendable, Hashable {
    /// The secret bytes (at least 136, the XXH3 minimum).
    @usableFromInline package let bytes: [UInt8]

    /// The size of a derived secret.
    package static let derivedSize = 192

    /// Derives a secret from key material of any length with `XXH3_generateSecret`.
    public init(keyMaterial: some Collection<UInt8>) {
        let material = Array(keyMaterial)
        var secret = [UInt8](repeating: 0, count: Self.derivedSize)
        secret.withUnsafeMutableBytes { out in
            material.withUnsafeBytes { seed in
                _ = XXH3_generateSecret(out.baseAddress, out.count, seed.baseAddress, seed.count)
            }
        }
        self.bytes = secret
    }

    /// Derives a secret from the UTF-8 bytes of a passphrase.
    public init(keyMaterial: String) { self.init(keyMaterial: Array(keyMaterial.utf8)) }

    /// Uses raw secret bytes as they are.
    /// - Throws: `.invalidArgument` when there are fewer than 136 bytes.
    package init(raw: [UInt8]) throws(CacheError) {
        guard raw.count >= 136 else {
            throw CacheError(.invalidArgument, "an XXH3 secret needs at least 136 bytes, got \(raw.count)")
        }
        self.bytes = raw
    }
}

/// XXH3 hashing through the system libxxhash: 64- and 128-bit, seeded or keyed, one-shot or
/// streaming. Every entry point reads the caller's bytes in place, with no copy.
///
/// `package`, not `public`: the key hasher and the spill use it; users only choose the secret
/// (``XXH3Secret``). Tests and benchmarks of this package reach it through `package` access.
@usableFromInline
package enum XXH3 {
    // MARK: 64-bit

    /// XXH3-64 of raw bytes with a seed (0 is the unseeded hash `xxhsum -H3` prints).
    @inlinable
    package static func hash64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        _hash64(bytes.baseAddress, bytes.count, seed)
    }

    /// XXH3-64 of raw bytes keyed by a secret.
    @inlinable
    package static func hash64(_ bytes: UnsafeRawBufferPointer, secret: XXH3Secret) -> UInt64 {
        secret.bytes.withUnsafeBytes { s in _hash64Secret(bytes.baseAddress, bytes.count, s) }
    }

    // MARK: 128-bit

    /// XXH3-128 of raw bytes with a seed (0 is the unseeded hash `xxhsum -H2` prints).
    @inlinable
    package static func hash128(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> XXH128Digest {
        _hash128(bytes.baseAddress, bytes.count, seed)
    }

    /// XXH3-128 of raw bytes keyed by a secret.
    @inlinable
    package static func hash128(_ bytes: UnsafeRawBufferPointer, secret: XXH3Secret) -> XXH128Digest {
        secret.bytes.withUnsafeBytes { s in _hash128Secret(bytes.baseAddress, bytes.count, s) }
    }

    // MARK: Convenience inputs (no copies)

    /// XXH3-64 of a byte array.
    @inlinable
    package static func hash64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash64($0, seed: seed) }
    }

    /// XXH3-64 of a buffer's readable bytes.
    @inlinable
    package static func hash64(_ buffer: ByteBuffer, seed: UInt64 = 0) -> UInt64 {
        buffer.withUnsafeReadableBytes { hash64($0, seed: seed) }
    }

    /// XXH3-64 of a string's UTF-8 bytes.
    @inlinable
    package static func hash64(_ string: String, seed: UInt64 = 0) -> UInt64 {
        withUTF8(string) { hash64($0, seed: seed) }
    }

    /// XXH3-128 of a byte array.
    @inlinable
    package static func hash128(_ bytes: [UInt8], seed: UInt64 = 0) -> XXH128Digest {
        bytes.withUnsafeBytes { hash128($0, seed: seed) }
    }

    /// XXH3-128 of a buffer's readable bytes.
    @inlinable
    package static func hash128(_ buffer: ByteBuffer, seed: UInt64 = 0) -> XXH128Digest {
        buffer.withUnsafeReadableBytes { hash128($0, seed: seed) }
    }

    /// XXH3-128 of a buffer's readable bytes, keyed.
    @inlinable
    package static func hash128(_ buffer: ByteBuffer, secret: XXH3Secret) -> XXH128Digest {
        buffer.withUnsafeReadableBytes { hash128($0, secret: secret) }
    }

    /// XXH3-128 of a string's UTF-8 bytes.
    @inlinable
    package static func hash128(_ string: String, seed: UInt64 = 0) -> XXH128Digest {
        withUTF8(string) { hash128($0, seed: seed) }
    }

    /// XXH3-128 of a byte array, keyed.
    @inlinable
    package static func hash128(_ bytes: [UInt8], secret: XXH3Secret) -> XXH128Digest {
        bytes.withUnsafeBytes { hash128($0, secret: secret) }
    }

    /// XXH3-128 of a string's UTF-8 bytes, keyed.
    @inlinable
    package static func hash128(_ string: String, secret: XXH3Secret) -> XXH128Digest {
        withUTF8(string) { hash128($0, secret: secret) }
    }

    @inlinable
    static func withUTF8<R>(_ string: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return r
        }
        var copy = string
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    static func writeHex(_ value: UInt64, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        for i in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * i)) & 0xF
            buffer[offset + i] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
        }
    }

    // MARK: Calls into libxxhash (non-inlinable: the C module is an internal import)

    @usableFromInline
    static func _hash64(_ p: UnsafeRawPointer?, _ n: Int, _ seed: UInt64) -> UInt64 {
        spillway_xxh3_64_seed(p, n, seed)
    }

    @usableFromInline
    static func _hash64Secret(_ p: UnsafeRawPointer?, _ n: Int, _ s: UnsafeRawBufferPointer) -> UInt64 {
        spillway_xxh3_64_secret(p, n, s.baseAddress, s.count)
    }

    @usableFromInline
    static func _hash128(_ p: UnsafeRawPointer?, _ n: Int, _ seed: UInt64) -> XXH128Digest {
        let h = spillway_xxh3_128_seed(p, n, seed)
        return XXH128Digest(high: h.high64, low: h.low64)
    }

    @usableFromInline
    static func _hash128Secret(_ p: UnsafeRawPointer?, _ n: Int, _ s: UnsafeRawBufferPointer) -> XXH128Digest {
        let h = spillway_xxh3_128_secret(p, n, s.baseAddress, s.count)
        return XXH128Digest(high: h.high64, low: h.low64)
    }
}
