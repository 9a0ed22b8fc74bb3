/// The package's one parser of decimal integers in bytes: an optional `-` or `+`, then one or
/// more ASCII digits, as a signed 64-bit integer (what Redis's `string2ll` and `Int64(String)`
/// accept), read straight from the bytes with no `String` and no allocation.
///
/// It serves the RESP decoder (`:` replies and every length header, so it is on the hot path:
/// it is `@inlinable` and takes a raw buffer, and compiles to the same loop a hand-written copy
/// would), `MemoryCache` (is a stored value an integer, for `INCR` and for Redis's memory
/// model), `Degrade`'s local counters, the persist driver's counters and rate-limit state,
/// `RESPValue.int64`, the in-process test server's command scanner, and the
/// proxy's key-count arguments (`EVAL … numkeys`, key specifications' `keynum`). Each caller turns a
/// ``Failure`` into its own error.
package enum DecimalInteger {
    /// Why bytes are not a decimal integer.
    package enum Failure: Error, Sendable, Hashable {
        /// No digits (nothing, or a sign alone).
        case empty
        /// A byte that is not an ASCII digit after the optional sign.
        case nonDigit
        /// The value does not fit in 64 bits.
        case overflow
    }

    /// Parses all of `bytes` as a decimal integer.
    /// - Throws: ``Failure``: `.empty` without digits, `.nonDigit` for any other byte,
    ///   `.overflow` outside `Int64.min...Int64.max`.
    @inlinable
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Int64 {
        var i = 0
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < bytes.count else { throw .empty }
        var value: Int64 = 0
        while i < bytes.count {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .nonDigit }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { throw .overflow }
            value = next
            i += 1
        }
        return value
    }

    /// Parses all of `bytes` as a decimal integer, or returns `nil` when they are not one.
    @inlinable
    package static func parseOrNil(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        do throws(Failure) {
            return try parse(bytes)
        } catch {
            return nil
        }
    }
}
