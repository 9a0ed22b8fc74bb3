#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where spill code reads wall-clock time for blob expiries and ages.
///
/// ``system`` reads the real time. Tests build one on a `ManualClock` with
/// ``init(clock:origin:)``, so TTL plus grace is checked without sleeping.
public struct BlobClock: Sendable {
    @usableFromInline let read: @Sendable () -> BlobTimestamp

    /// Creates a clock from a function returning the current time.
    public init(_ read: @escaping @Sendable () -> BlobTimestamp) { self.read = read }

    /// A clock that follows `clock`: it reads `origin` now, and moves as `clock` moves.
    /// - Parameters:
    ///   - clock: any clock measured in `Duration` (a `ManualClock` in tests).
    ///   - origin: the wall-clock time that corresponds to `clock.now` at creation.
    public init<C: Clock>(clock: C, origin: BlobTimestamp) where C.Duration == Duration {
        let start = clock.now
        self.read = { origin.advanced(by: start.duration(to: clock.now)) }
    }

    /// The current time.
    @inlinable
    public func now() -> BlobTimestamp { read() }

    /// The real wall clock (`CLOCK_REALTIME`).
    public static let system = BlobClock { BlobClock.wallNow() }

    /// The real wall-clock time now.
    public static func wallNow() -> BlobTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return BlobTimestamp(millisecondsSince1970: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}
