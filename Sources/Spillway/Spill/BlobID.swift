/// The identity of one spilled blob: 128 random bits.
///
/// Ids are drawn from the system's cryptographic random generator and never derived from a key
/// or a value, so no caller input can choose a path in a ``FileBlobStore`` or make two keys share
/// a blob. The canonical text form is 32 lowercase hex digits, high half first; ids order the way
/// their text does.
public struct BlobID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The high 64 bits.
    public let high: UInt64
    /// The low 64 bits.
    public let low: UInt64

    /// Creates an id from its halves (for decoding; new blobs use ``random()``).
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A fresh id from the system's random generator.
    public static func random() -> BlobID {
        var generator = SystemRandomNumberGenerator()
        return BlobID(high: generator.next(), low: generator.next())
    }

    /// Parses the canonical form: exactly 32 lowercase hex digits. Anything else is `nil`.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 32 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, c) in utf8.enumerated() {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if i < 16 { high = high << 4 | UInt64(nibble) } else { low = low << 4 | UInt64(nibble) }
        }
        self.init(high: high, low: low)
    }

    /// The 32 lowercase hex digits.
    public var description: String {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { buffer in
            XXH3.writeHex(high, into: buffer, at: 0)
            XXH3.writeHex(low, into: buffer, at: 16)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Orders ids as their hex text orders.
    public static func < (a: BlobID, b: BlobID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}
