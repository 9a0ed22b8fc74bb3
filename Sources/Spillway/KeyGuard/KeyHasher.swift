#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif
public import NIOCore

/// Rewrites an oversized key into the short, stable, keyed form:
///
/// ```
/// <readable prefix>…[{hash tag}]#v1:<32 hex digits of keyed XXH3-128 of the whole key>
/// <readable prefix>…{#<4 slot letters>}#v2:<32 hex digits>      (a tag too long to keep)
/// ```
///
/// - The readable prefix is the key's first bytes, at most ``readablePrefixBytes`` and never more
///   than the budget left by the suffix, cut on a UTF-8 character boundary (it stops early at the
///   first byte that is not valid UTF-8, and before a hash tag's `{`).
/// - `…` is U+2026 (3 bytes). `#v1:` or `#v2:` names the format version.
/// - A Redis Cluster hash tag (the bytes between the first `{` and the next `}`, when not empty)
///   keeps the new key in the original key's slot. If the tag already sits whole inside the
///   readable prefix nothing is added; otherwise `{tag}` is appended after the ellipsis. A tag too
///   long to fit is replaced by the **slot-keeping tag** `{#XXXX}` (format version 2): `#` and four
///   letters from `@ABCDEFGHIJKLMNO` that hash to the original tag's slot (``HashSlot``), so the
///   hashed key lands in the same slot as the original and as every key with that tag.
/// - Version 2 changed only that tag: a key without a too-long tag is hashed byte for byte as in
///   version 1 and keeps `#v1:`, so those hashed keys stay readable across the upgrade. A key
///   hashed by version 1 with a too-long tag (`{#<16 hex>}…#v1:`) is not read again: its entry
///   expires by its TTL (in a cluster it sits in another slot, usually on another node, so no
///   single command could read both names).
/// - The hash is keyed by the deployment secret, so the same key gives the same output in every
///   process that shares the secret, and outsiders cannot craft collisions.
/// - Hashed and raw keys never share a name: a key of any length that already ends like a hashed
///   key (``hasHashedForm(_:)``: `#v1:` or `#v2:` and 32 lowercase hex digits) is hashed by
///   ``KeyGuard`` too, so no raw key reaches the backend under a name that a hashed key could have.
public struct KeyHasher: Sendable {
    /// The secret the digest is keyed with.
    public let secret: XXH3Secret
    /// The most readable bytes to keep.
    public let readablePrefixBytes: Int
    /// Whether ``secret`` is derived from the public ``defaultKeyMaterial``: anyone can then
    /// compute hashed keys offline. ``KeyGuard`` warns once at start when it is, and refuses to
    /// start under ``PolicyTable/requireSecret``.
    public let usesDefaultSecret: Bool

    /// The bytes of `…#v1:` (or `…#v2:`) plus 32 hex digits.
    public static let suffixBytes = 3 + 4 + 32
    /// The key material of the default secret. It is public: set your own per deployment.
    public static let defaultKeyMaterial = "spillway/key-hash/v1"
    /// The secret derived from ``defaultKeyMaterial``.
    static let defaultSecret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial)

    /// Creates a hasher.
    /// - Parameters:
    ///   - secret: the deployment secret (derive one with `XXH3Secret(keyMaterial:)`).
    ///   - readablePrefixBytes: how many leading bytes to keep readable (default 40).
    public init(secret: XXH3Secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial), readablePrefixBytes: Int = 40) {
        self.secret = secret
        self.readablePrefixBytes = max(0, readablePrefixBytes)
        self.usesDefaultSecret = secret == Self.defaultSecret
    }

    /// Whether `key` ends like a hashed key of format version 1 or 2: `#v1:` or `#v2:`, then 32
    /// lowercase hex digits (whatever comes before). Such a key is hashed even when it is short
    /// enough, so a raw key can never name a hashed key's value (of either version).
    @inlinable
    public static func hasHashedForm(_ key: CacheKey) -> Bool {
        let n = key.count
        guard n >= 36 else { return false }
        return key.bytes.withUnsafeReadableBytes { raw in
            guard raw[n - 36] == UInt8(ascii: "#"), raw[n - 35] == UInt8(ascii: "v"),
                raw[n - 34] == UInt8(ascii: "1") || raw[n - 34] == UInt8(ascii: "2"), raw[n - 33] == UInt8(ascii: ":")
            else { return false }
            for i in (n - 32)..<n {
                let b = raw[i]
                guard (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) else { return false }
            }
            return true
        }
    }

    /// The hashed form of `key`, no longer than `maxKeyBytes` (assuming `maxKeyBytes` is at least
    /// ``CachePolicy/minimumMaxKeyBytes``). One buffer is allocated: the result.
    public func hashed(_ key: CacheKey, maxKeyBytes: Int) -> CacheKey {
        key.bytes.withUnsafeReadableBytes { raw in
            let digest = XXH3.hash128(raw, secret: secret)
            let budget = max(0, maxKeyBytes - Self.suffixBytes)
            var prefixEnd = min(budget, readablePrefixBytes)
            // The tag part: nothing, `{tag}` (the tag's bytes), or the slot-keeping `{#XXXX}`.
            var tagBytes: Range<Int>? = nil
            var slotTag: (UInt8, UInt8, UInt8, UInt8, UInt8)? = nil
            var tagPartCount = 0
            if let tag = Self.hashTag(in: raw), tag.upperBound >= Self.utf8Boundary(raw, limit: prefixEnd) {
                if tag.count + 2 <= budget {
                    tagBytes = tag
                    tagPartCount = tag.count + 2
                } else {
                    slotTag = HashSlot.slotKeepingTag(slot: HashSlot.slot(hashing: UnsafeRawBufferPointer(rebasing: raw[tag])))
                    tagPartCount = 2 + 5
                }
                // The readable prefix must stop before the tag's `{` (the first `{` in the key).
                prefixEnd = min(prefixEnd, tag.lowerBound - 1, max(0, budget - tagPartCount))
            }
            let cut = Self.utf8Boundary(raw, limit: prefixEnd)
            let total = cut + tagPartCount + Self.suffixBytes
            var out = ByteBufferAllocator().buffer(capacity: total)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { dest in
                var at = 0
                func put(_ byte: UInt8) {
                    dest[at] = byte
                    at += 1
                }
                if cut > 0 { dest.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: cut) }
                at = cut
                put(0xE2); put(0x80); put(0xA6)  // …
                if let tagBytes {
                    put(UInt8(ascii: "{"))
                    UnsafeMutableRawBufferPointer(rebasing: dest[at..<(at + tagBytes.count)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[tagBytes]))
                    at += tagBytes.count
                    put(UInt8(ascii: "}"))
                } else if let slotTag {
                    put(UInt8(ascii: "{"))
                    put(slotTag.0); put(slotTag.1); put(slotTag.2); put(slotTag.3); put(slotTag.4)
                    put(UInt8(ascii: "}"))
                }
                put(UInt8(ascii: "#")); put(UInt8(ascii: "v")); put(UInt8(ascii: slotTag == nil ? "1" : "2")); put(UInt8(ascii: ":"))
                digest.writeHex(into: UnsafeMutableRawBufferPointer(rebasing: dest[at..<(at + 32)]))
                at += 32
                return at
            }
            return CacheKey(bytes: out)
        }
    }

    /// The range of a Redis Cluster hash tag's content, following Redis's rule: the bytes between
    /// the first `{` and the first `}` after it, if there is at least one. The search is `memchr`,
    /// so a 10 KiB key without braces costs a fraction of its hash.
    static func hashTag(in raw: UnsafeRawBufferPointer) -> Range<Int>? {
        guard let base = raw.baseAddress, raw.count > 0 else { return nil }
        guard let openPointer = memchr(base, Int32(UInt8(ascii: "{")), raw.count) else { return nil }
        let open = UnsafeRawPointer(openPointer) - base
        let afterOpen = open + 1
        guard afterOpen < raw.count,
            let closePointer = memchr(base + afterOpen, Int32(UInt8(ascii: "}")), raw.count - afterOpen)
        else { return nil }
        let close = UnsafeRawPointer(closePointer) - base
        guard close > afterOpen else { return nil }
        return afterOpen..<close
    }

    /// The largest `n <= limit` such that `raw[0..<n]` is valid, complete UTF-8.
    static func utf8Boundary(_ raw: UnsafeRawBufferPointer, limit: Int) -> Int {
        let limit = min(limit, raw.count)
        var i = 0
        while i < limit {
            let b = raw[i]
            let length: Int
            if b < 0x80 {
                length = 1
            } else if b >= 0xC2 && b <= 0xDF {
                length = 2
            } else if b >= 0xE0 && b <= 0xEF {
                length = 3
            } else if b >= 0xF0 && b <= 0xF4 {
                length = 4
            } else {
                return i
            }
            guard i + length <= limit else { return i }
            for j in 1..<max(length, 1) where raw[i + j] & 0xC0 != 0x80 { return i }
            if length == 3 {
                let b1 = raw[i + 1]
                if (b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) { return i }  // overlong, surrogate
            } else if length == 4 {
                let b1 = raw[i + 1]
                if (b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F) { return i }
            }
            i += length
        }
        return i
    }
}
