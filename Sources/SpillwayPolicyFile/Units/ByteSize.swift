/// Sizes in a policy file: plain bytes (`4096`) or an integer with a unit (`16KiB`, `1MiB`).
///
/// Binary units (`KiB`, `MiB`, `GiB`) are powers of 1024; decimal units (`kB`/`KB`, `MB`, `GB`)
/// are powers of 1000, as their SI names say. `B` is bytes. There is no space between the number
/// and the unit, and no fraction (write `1536KiB`, not `1.5MiB`).
public enum ByteSize {
    /// The units, with their multipliers.
    public static let units: [(name: String, bytes: Int)] = [
        ("B", 1),
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("kB", 1000), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
    ]

    /// The number of bytes `text` stands for.
    /// - Throws: ``UnitError`` naming what is wrong (no digits, an unknown unit, a fraction, an
    ///   overflow).
    public static func parse(_ text: String) throws(UnitError) -> Int {
        let (digits, unit) = try UnitText.split(text, what: "size")
        let multiplier: Int
        if unit.isEmpty {
            multiplier = 1
        } else if let match = units.first(where: { $0.name == unit }) {
            multiplier = match.bytes
        } else {
            throw UnitError("unknown size unit '\(unit)' in '\(text)'; use B, KiB, MiB, GiB (1024) or kB, MB, GB (1000)" + Suggestion.didYouMean(unit, in: ["KiB", "MiB", "GiB", "B"]))
        }
        let (product, overflow) = digits.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw UnitError("size '\(text)' is too large") }
        return product
    }

    /// The shortest exact text for `bytes`: `16KiB`, `1MiB`, or plain bytes.
    public static func format(_ bytes: Int) -> String {
        guard bytes > 0 else { return "\(bytes)" }
        for (name, size) in [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes % size == 0 {
            return "\(bytes / size)\(name)"
        }
        return "\(bytes)"
    }

    /// A human figure for reports, rounded: `10.0 KiB`, `4.8 MiB`, `512 B`.
    public static func human(_ bytes: Int) -> String {
        let value = Double(bytes)
        for (name, size) in [("GiB", Double(1 << 30)), ("MiB", Double(1 << 20)), ("KiB", Double(1 << 10))] where abs(value) >= size {
            let scaled = (value / size * 10).rounded() / 10
            return "\(scaled) \(name)"
        }
        return "\(bytes) B"
    }
}

/// Durations in a policy file: one or more integer-and-unit parts, `500ms`, `90s`, `5m`, `1h`,
/// `1d`, `1h30m`. A bare number is an error, because `60` could mean seconds or milliseconds.
public enum DurationText {
    /// The units, with their length in milliseconds.
    public static let units: [(name: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// The duration `text` stands for.
    /// - Throws: ``UnitError`` naming what is wrong.
    public static func parse(_ text: String) throws(UnitError) -> Duration {
        var rest = Substring(text)
        var total: Int64 = 0
        var previousRank = Int.max
        guard !rest.isEmpty else { throw UnitError("expected a duration such as 90s, 5m or 1h") }
        while !rest.isEmpty {
            let digitCount = rest.prefix(while: { $0.isASCII && $0.isNumber }).count
            guard digitCount > 0 else {
                throw UnitError("expected a duration such as 90s, 5m or 1h, found '\(text)'")
            }
            guard digitCount <= 18, let value = Int64(rest.prefix(digitCount)) else {
                throw UnitError("duration '\(text)' is too large")
            }
            rest = rest.dropFirst(digitCount)
            let unit = rest.prefix(while: { $0.isLetter })
            rest = rest.dropFirst(unit.count)
            if unit.isEmpty {
                if rest.first == "." { throw UnitError("duration '\(text)' has a fraction; use a smaller unit (1500ms, not 1.5s)") }
                if !rest.isEmpty { throw UnitError("unexpected '\(rest.prefix(1))' in duration '\(text)'") }
                throw UnitError("duration '\(text)' needs a unit: ms, s, m, h or d (for example \(value)s)")
            }
            guard let rank = units.firstIndex(where: { $0.name == unit }) else {
                throw UnitError("unknown duration unit '\(unit)' in '\(text)'; use ms, s, m, h or d" + (aliases[String(unit)].map { "; did you mean '\($0)'?" } ?? Suggestion.didYouMean(String(unit), in: units.map(\.name))))
            }
            guard rank < previousRank else {
                throw UnitError("duration '\(text)' must list its parts from the largest unit down, each once (1h30m)")
            }
            previousRank = rank
            let (part, o1) = value.multipliedReportingOverflow(by: units[rank].milliseconds)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1, !o2, sum <= Int64.max / 1_000_000 else { throw UnitError("duration '\(text)' is too large") }
            total = sum
        }
        return .milliseconds(total)
    }

    /// Common spellings that are not units here; they only feed the did-you-mean.
    private static let aliases: [String: String] = ["sec": "s", "secs": "s", "min": "m", "mins": "m", "hr": "h", "hrs": "h", "day": "d", "days": "d", "M": "m", "H": "h", "D": "d", "S": "s"]

    /// The shortest exact text for a duration: `90s`, `5m`, `1h30m`, `1500ms`.
    public static func format(_ duration: Duration) -> String {
        var ms = milliseconds(duration)
        guard ms > 0 else { return "\(ms)ms" }
        var out = ""
        for (name, size) in units.reversed() where ms >= size {
            out += "\(ms / size)\(name)"
            ms %= size
        }
        return out
    }

    /// Whole milliseconds in a duration (rounded toward zero).
    public static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Splitting `16KiB` into its number and unit.
enum UnitText {
    static func split(_ text: String, what: String) throws(UnitError) -> (Int, String) {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = text.dropFirst(digits.count)
        if text.hasPrefix("-") { throw UnitError("a \(what) cannot be negative: '\(text)'") }
        guard !digits.isEmpty else { throw UnitError("expected a \(what) such as 4096, 16KiB or 1MiB, found '\(text)'") }
        if unit.first == "." || unit.first == "," { throw UnitError("\(what) '\(text)' has a fraction; use a smaller unit (1536KiB, not 1.5MiB)") }
        if unit.first == " " { throw UnitError("write \(what)s without a space: '\(text.filter { $0 != " " })'") }
        guard digits.count <= 18, let value = Int(digits) else { throw UnitError("\(what) '\(text)' is too large") }
        return (value, String(unit))
    }
}

/// A size or duration that could not be read.
public struct UnitError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
