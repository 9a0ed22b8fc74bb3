public import NIOCore
import Spillway

/// One value of the Redis serialization protocol, RESP3 (a superset of RESP2).
///
/// Strings are kept as `ByteBuffer` slices: binary-safe and copied no more than the network
/// layer already did. RESP2's null bulk string and null array both decode to ``null``.
public enum RESPValue: Sendable, Hashable {
    /// `+text` — a simple string such as `OK`.
    case simpleString(ByteBuffer)
    /// `-CODE message` or `!len` (bulk error) — an error reply.
    case error(ByteBuffer)
    /// `:n` — a signed 64-bit integer.
    case integer(Int64)
    /// `$len` — a binary-safe string.
    case bulkString(ByteBuffer)
    /// `_`, `$-1` or `*-1` — no value.
    case null
    /// `,` — a double (including `inf`, `-inf` and `nan`).
    case double(Double)
    /// `#t` / `#f` — a boolean.
    case boolean(Bool)
    /// `(` — an integer too big for 64 bits, as its decimal digits.
    case bigNumber(ByteBuffer)
    /// `=len` — a verbatim string; `format` is its three-letter type (`txt`, `mkd`).
    ///
    /// Boxed (`indirect`), so that the other cases set the size of every value: one
    /// `ByteBuffer`, not two. A big array reply holds one ``RESPValue`` per element.
    indirect case verbatimString(format: ByteBuffer, ByteBuffer)
    /// `*n` — an ordered list.
    case array([RESPValue])
    /// `~n` — an unordered set (kept in wire order).
    case set([RESPValue])
    /// `%n` — key/value pairs, in wire order.
    case map([RESPMapEntry])
    /// `>n` — an out-of-band push message (not a reply to a command).
    case push([RESPValue])

    /// The bytes of a string-like value (simple, bulk, verbatim, big number), else `nil`.
    public var bytes: ByteBuffer? {
        switch self {
        case .simpleString(let b), .bulkString(let b), .bigNumber(let b), .verbatimString(_, let b): b
        default: nil
        }
    }

    /// The value of a string-like value decoded as UTF-8, else `nil`.
    public var string: String? {
        bytes.map { String(decoding: $0.readableBytesView, as: UTF8.self) }
    }

    /// The integer of an `integer` value, or of a string holding a decimal integer.
    public var int64: Int64? {
        switch self {
        case .integer(let n): n
        case .simpleString(let b), .bulkString(let b), .bigNumber(let b):
            b.withUnsafeReadableBytes { DecimalInteger.parseOrNil($0) }
        default: nil
        }
    }

    /// The elements of an array, set or push, else `nil`.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): a
        default: nil
        }
    }

    /// The text of an error reply, else `nil`.
    public var errorMessage: String? {
        if case .error(let b) = self { return String(decoding: b.readableBytesView, as: UTF8.self) }
        return nil
    }

    /// Whether the value is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// One key/value pair of a RESP3 map.
public struct RESPMapEntry: Sendable, Hashable {
    /// The key.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates a pair.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}
