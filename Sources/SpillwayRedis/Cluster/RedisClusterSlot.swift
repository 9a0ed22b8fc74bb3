import Spillway

/// Redis Cluster's key-to-slot function: `CRC16(key) mod 16384` (CRC-16/XMODEM: polynomial
/// 0x1021, initial value 0), hashing only the hash tag when the key has one.
///
/// The hash tag is the bytes between the first `{` and the first `}` after it, when there is at
/// least one byte between them: `{user1000}.following` and `{user1000}.followers` share a slot;
/// `foo{}{bar}` hashes the whole key; `foo{{bar}}` hashes `{bar`. This is what the server's
/// `CLUSTER KEYSLOT` computes.
public enum RedisClusterSlot {
    /// The number of hash slots.
    public static let count = 16384

    /// The slot of a key given as contiguous bytes (what ``RedisClusterClient`` computes for
    /// every command): no generic code, the tag found with `memchr`.
    public static func of(_ key: UnsafeRawBufferPointer) -> Int {
        HashSlot.slot(ofKey: key)
    }

    /// The slot of a key given as bytes.
    @inlinable
    public static func of<Bytes: Collection<UInt8>>(_ key: Bytes) -> Int {
        if let slot = key.withContiguousStorageIfAvailable({ of(UnsafeRawBufferPointer($0)) }) { return slot }
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                hashed = key[afterOpen..<close]
            }
        }
        return Int(crc16(hashed) & 0x3FFF)
    }

    /// The slot of a key given as a string (its UTF-8 bytes).
    @inlinable
    public static func of(_ key: String) -> Int {
        of(Array(key.utf8))
    }

    /// CRC-16/XMODEM of `bytes` (the core's, which `KeyHasher` keeps slots with).
    public static func crc16<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt16 {
        if let crc = bytes.withContiguousStorageIfAvailable({ HashSlot.crc16(contiguous: UnsafeRawBufferPointer($0)) }) { return crc }
        return HashSlot.crc16(bytes)
    }
}
