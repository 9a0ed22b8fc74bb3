internal import CXXHash
package import NIOCore

/// Streaming XXH3: feed bytes in pieces, then read the 64- or 128-bit digest.
///
/// The digest equals the one-shot hash of the concatenated input, with the same seed or secret.
/// Non-copyable: it owns a libxxhash state, freed when the hasher goes away.
package struct XXH3StreamingHasher: ~Copyable {
    private let state: OpaquePointer
    private let secret: [UInt8]?

    /// Starts a seeded hash (seed 0 is the plain hash).
    package init(seed: UInt64 = 0) {
        state = XXH3_createState()!
        secret = nil
        XXH3_128bits_reset_withSeed(state, seed)
        // One state serves both widths: the 64-bit reset is identical apart from the seed mode.
    }

    /// Starts a keyed hash. The secret is kept alive for the hasher's lifetime, as libxxhash requires.
    package init(secret: XXH3Secret) {
        state = XXH3_createState()!
        self.secret = secret.bytes
        self.secret!.withUnsafeBytes { s in
            _ = XXH3_128bits_reset_withSecret(state, s.baseAddress, s.count)
        }
    }

    deinit { XXH3_freeState(state) }

    /// Adds raw bytes.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        _ = spillway_xxh3_update(state, bytes.baseAddress, bytes.count)
    }

    /// Adds a byte array.
    package mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Adds a buffer's readable bytes.
    package mutating func update(_ buffer: ByteBuffer) { buffer.withUnsafeReadableBytes { update($0) } }

    /// Adds a string's UTF-8 bytes.
    package mutating func update(_ string: String) { XXH3.withUTF8(string) { update($0) } }

    /// The 128-bit digest of everything added so far. More input may follow.
    package func digest128() -> XXH128Digest {
        let h = XXH3_128bits_digest(state)
        return XXH128Digest(high: h.high64, low: h.low64)
    }

    /// The 64-bit digest of everything added so far. More input may follow.
    package func digest64() -> UInt64 {
        XXH3_64bits_digest(state)
    }
}
