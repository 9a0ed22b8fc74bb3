/// A point in wall-clock time with millisecond precision: milliseconds since 1970-01-01 UTC.
///
/// Blob expiries outlive the process (a ``FileBlobStore`` keeps them on disk), so they are
/// absolute wall-clock times, not instants of a process-local clock.
public struct BlobTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch.
    public var millisecondsSince1970: Int64

    /// Creates a timestamp.
    @inlinable
    public init(millisecondsSince1970: Int64) { self.millisecondsSince1970 = millisecondsSince1970 }

    /// This time moved by `duration` (truncated to whole milliseconds, saturating at the ends).
    public func advanced(by duration: Duration) -> BlobTimestamp {
        let (seconds, attoseconds) = duration.components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let delta: Int64 = overflow ? (seconds < 0 ? .min : .max) : ms.addingClampingOverflow(attoseconds / 1_000_000_000_000_000)
        return BlobTimestamp(millisecondsSince1970: millisecondsSince1970.addingClampingOverflow(delta))
    }

    /// The time from this timestamp to `other`.
    public func duration(to other: BlobTimestamp) -> Duration {
        .milliseconds(other.millisecondsSince1970 - millisecondsSince1970)
    }

    public static func < (a: BlobTimestamp, b: BlobTimestamp) -> Bool {
        a.millisecondsSince1970 < b.millisecondsSince1970
    }

    public var description: String { "\(millisecondsSince1970)ms" }
}

extension Int64 {
    func addingClampingOverflow(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }
}
