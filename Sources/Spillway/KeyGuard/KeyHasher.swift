internal import NIOCore

/// Rewrites an oversized key into the short, stable, keyed form (format version 1):
///
/// ```
/// <readable prefix>…[{hash tag}]#v1:<32 hex digits of keyed XXH3-128 of the whole key>
/// ```
///
/// - The readable prefix is the key's first bytes, at most ``readablePrefixBytes`` and never more
///   than the budget left by the suffix, cut on a UTF-8 character boundary (it stops early at the
///   first byte that is not valid UTF-8, and before a hash tag's `{`).
/// - `…` is U+2026 (3 bytes). `#v1:` names the format version.
/// - A Redis Cluster hash tag (the bytes between the first `{` and the next `}`, when not empty)
///   is kept, so the new key maps to the same slot. If the tag already sits whole inside the
///   readable prefix nothing is added; otherwise `{tag}` is appended after the ellipsis. A tag too
///   long to fit is replaced by `{#<16 hex of keyed XXH3-64 of the tag>}`, which keeps every key
///   with that tag together.
/// - The hash is keyed by the deployment secret, so the same key gives the same output in every
///   process that shares the secret, and outsiders cannot craft collisions.
public struct KeyHasher: Sendable {
    /// The secret the digest is keyed with.
    public let secret: XXH3Secret
    /// The most readable bytes to keep.
    public let readablePrefixBytes: Int

    /// The bytes of `…#v1:` plus 32 hex digits.
    public static let suffixBytes = 3 + 4 + 32
    /// The key material of the default secret. Set your own per deployment.
    public static let defaultKeyMaterial = "spillway/key-hash/v1"

    /// Creates a hasher.
    /// - Parameters:
    ///   - secret: the deployment secret (derive one with `XXH3Secret(keyMaterial:)`).
    ///   - readablePrefixBytes: how many leading bytes to keep readable (default 40).
    public init(secret: XXH3Secret = XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial), readablePrefixBytes: Int = 40) {
        self.secret = secret
        self.readablePrefixBytes = max(0, readablePrefixBytes)
    }

    /// The hashed form of `key`, no longer than `maxKeyBytes` (assuming `maxKeyBytes` is at least
    /// ``CachePolicy/minimumMaxKeyBytes``).
    public func hashed(_ key: CacheKey, maxKeyBytes: Int) -> CacheKey {
        key.bytes.withUnsafeReadableBytes { raw in
            let digest = XXH3.hash128(raw, secret: secret)
            let budget = max(0, maxKeyBytes - Self.suffixBytes)
            let tag = Self.hashTag(in: raw)

            var prefixEnd = min(budget, readablePrefixBytes)
            var tagPart: [UInt8] = []
            if let tag {
                let tagInsidePrefix = tag.upperBound < Self.utf8Boundary(raw, limit: prefixEnd)
                if !tagInsidePrefix {
                    let tagBytes = UnsafeRawBufferPointer(rebasing: raw[tag])
                    if tag.count + 2 <= budget {
                        tagPart = [UInt8(ascii: "{")] + Array(tagBytes) + [UInt8(ascii: "}")]
                    } else {
                        var digits = [UInt8](repeating: 0, count: 16)
                        let h = XXH3.hash64(tagBytes, secret: secret)
                        digits.withUnsafeMutableBytes { XXH3.writeHex(h, into: $0, at: 0) }
                        tagPart = Array("{#".utf8) + digits + [UInt8(ascii: "}")]
                    }
                    // The readable prefix must stop before the tag's `{` (the first `{` in the key).
                    prefixEnd = min(prefixEnd, tag.lowerBound - 1, max(0, budget - tagPart.count))
                }
            }
            let cut = Self.utf8Boundary(raw, limit: prefixEnd)

            var out = ByteBufferAllocator().buffer(capacity: cut + tagPart.count + Self.suffixBytes)
            out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[0..<cut]))
            out.writeBytes([0xE2, 0x80, 0xA6])  // …
            out.writeBytes(tagPart)
            out.writeBytes(Array("#v1:".utf8))
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { dest in
                digest.writeHex(into: dest)
                return 32
            }
            return CacheKey(bytes: out)
        }
    }

    /// The range of a Redis Cluster hash tag's content, following Redis's rule: the bytes between
    /// the first `{` and the first `}` after it, if there is at least one.
    public static func hashTag(in raw: UnsafeRawBufferPointer) -> Range<Int>? {
        guard let open = raw.firstIndex(of: UInt8(ascii: "{")) else { return nil }
        guard let close = raw[(open + 1)...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
        guard close > open + 1 else { return nil }
        return (open + 1)..<close
    }

    /// The largest `n <= limit` such that `raw[0..<n]` is valid, complete UTF-8.
    public static func utf8Boundary(_ raw: UnsafeRawBufferPointer, limit: Int) -> Int {
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
