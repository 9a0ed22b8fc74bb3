public import NIOCore

/// A cache key: binary-safe bytes, as Redis keys are.
///
/// Build one from a `String` (or a string literal) or from raw bytes. Keys are compared byte for
/// byte. ``description`` shows a short, escaped preview, never the whole key, so that a 10 KB key
/// built from a payload never floods a log line.
public struct CacheKey: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The key's bytes.
    public var bytes: ByteBuffer

    /// Creates a key from raw bytes.
    @inlinable
    public init(bytes: ByteBuffer) { self.bytes = bytes }

    /// Creates a key from the UTF-8 bytes of a string.
    @inlinable
    public init(_ string: String) { self.bytes = ByteBuffer(string: string) }

    /// Creates a key from raw bytes.
    @inlinable
    public init(_ bytes: some Sequence<UInt8>) { self.bytes = ByteBuffer(bytes: bytes) }

    /// Creates a key from a string literal.
    @inlinable
    public init(stringLiteral value: String) { self.init(value) }

    /// The key's length in bytes.
    @inlinable
    public var count: Int { bytes.readableBytes }

    /// The key's bytes decoded as UTF-8, with invalid sequences replaced.
    public var string: String { String(decoding: bytes.readableBytesView, as: UTF8.self) }

    /// Whether the key starts with the given bytes.
    @inlinable
    public func hasPrefix(_ prefix: ByteBuffer) -> Bool {
        let n = prefix.readableBytes
        guard n <= bytes.readableBytes else { return false }
        return bytes.readableBytesView.prefix(n).elementsEqual(prefix.readableBytesView)
    }

    /// A short preview of the key: at most `limit` bytes, non-printable bytes escaped as `\xNN`.
    public func preview(limit: Int = 32) -> String {
        var out = ""
        for byte in bytes.readableBytesView.prefix(limit) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String(byte, radix: 16, uppercase: false).leftPadded(to: 2)
            }
        }
        if count > limit { out += "…" }
        return out
    }

    public var description: String { "\"\(preview())\" (\(count) bytes)" }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
