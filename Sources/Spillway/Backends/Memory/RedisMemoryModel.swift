/// An approximation of what Redis 7 (with jemalloc, 64-bit) charges to `used_memory` for a
/// string key, so that `MemoryCache` reaches `maxmemory` where a real Redis would.
///
/// Per key:
/// - the main dict entry: 24 bytes, allocated as 32 (jemalloc size class);
/// - the key's sds: header (1 byte below 32 bytes of key, 3 below 256, 5 below 64 KiB, 9 above)
///   + length + 1, rounded up to its size class;
/// - the value: an integer that fits in 64 bits is a bare object of 16 bytes; up to 44 bytes it
///   is one "embstr" allocation of 16 + 3 + length + 1; longer it is a 16-byte object plus an sds
///   (header + length + 1), each rounded up to its size class;
/// - with a TTL, an entry in the expires dict: 32 bytes.
///
/// Per table: 8 bytes per bucket, the bucket count being the next power of two at or above the
/// key count, once for the main dict and once for the expires dict.
///
/// Left out: the server's own baseline (about 1 MB in a fresh Redis), client buffers,
/// replication backlog, fragmentation, the second table during incremental rehashing, and the
/// Lua script cache. So `MemoryCache` reports somewhat less than a real `used_memory` for the
/// same data; the difference is constant, not per key.
package enum RedisMemoryModel {
    /// The jemalloc size class that a request of `n` bytes is served from.
    @inlinable
    package static func sizeClass(_ n: Int) -> Int {
        if n <= 8 { return 8 }
        if n <= 128 { return (n + 15) & ~15 }
        var lg = 0
        var v = n - 1
        while v > 1 {
            v >>= 1
            lg += 1
        }
        let step = 1 << (lg - 2)
        return (n + step - 1) & ~(step - 1)
    }

    /// The size of an sds string holding `length` bytes.
    @inlinable
    package static func sdsSize(_ length: Int) -> Int {
        let header = length < 32 ? 1 : length < 256 ? 3 : length < 65536 ? 5 : 9
        return sizeClass(header + length + 1)
    }

    /// The bytes charged for one string key, excluding the bucket arrays.
    @inlinable
    package static func entryCost(keyBytes: Int, valueBytes: Int, valueIsInteger: Bool, hasTTL: Bool) -> Int {
        let value: Int
        if valueIsInteger {
            value = 16
        } else if valueBytes <= 44 {
            value = sizeClass(16 + 3 + valueBytes + 1)
        } else {
            value = 16 + sdsSize(valueBytes)
        }
        return 32 + sdsSize(keyBytes) + value + (hasTTL ? 32 : 0)
    }

    /// The bytes of a dict's bucket array for `count` keys.
    @inlinable
    package static func tableCost(count: Int) -> Int {
        guard count > 0 else { return 0 }
        var buckets = 4
        while buckets < count { buckets <<= 1 }
        return buckets * 8
    }
}
