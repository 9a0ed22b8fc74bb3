/// Parameters of one GCRA (generic cell rate algorithm) step.
///
/// A limit of `limit` requests per `period` gives an emission interval `T = period / limit`.
/// `capacity` is the burst: how many requests may pass back to back from a rested state.
/// The state is a single number per key, the theoretical arrival time (TAT).
public struct GCRAParameters: Sendable, Hashable {
    /// The time one request "costs": `period / limit`.
    public var emissionInterval: Duration
    /// The burst: how many requests may pass at once from a rested state (at least 1).
    public var capacity: Int
    /// How many requests this step counts for (usually 1).
    public var cost: Int

    /// Creates parameters for `limit` requests per `period` with the given burst.
    /// - Precondition: none; invalid values are clamped (limit and burst to at least 1).
    public init(limit: Int, period: Duration, burst: Int? = nil, cost: Int = 1) {
        let limit = max(1, limit)
        self.emissionInterval = period / limit
        self.capacity = max(1, burst ?? limit)
        self.cost = max(0, cost)
    }

    /// The GCRA window, `emissionInterval × capacity`, in nanoseconds: saturating at
    /// `Int64.max` instead of wrapping (a window of more than 292 years is no limit anyway).
    @inlinable
    public var windowNanoseconds: Int64 {
        emissionInterval.nanoseconds.saturatingMultiply(Int64(capacity))
    }

    /// Creates parameters from an emission interval directly.
    public init(emissionInterval: Duration, capacity: Int, cost: Int = 1) {
        self.emissionInterval = emissionInterval
        self.capacity = max(1, capacity)
        self.cost = max(0, cost)
    }
}

/// The outcome of one GCRA step.
public struct GCRADecision: Sendable, Hashable {
    /// Whether the request may pass.
    public var allowed: Bool
    /// How many more requests would pass right now.
    public var remaining: Int
    /// When denied, how long until this request would pass; zero when allowed.
    public var retryAfter: Duration
    /// How long until the key is back at full burst.
    public var resetAfter: Duration

    /// Creates a decision.
    public init(allowed: Bool, remaining: Int, retryAfter: Duration, resetAfter: Duration) {
        self.allowed = allowed
        self.remaining = remaining
        self.retryAfter = retryAfter
        self.resetAfter = resetAfter
    }
}

/// The GCRA arithmetic, shared by every backend that runs the step (MemoryCache, the local
/// fallback limiter) so that they all decide identically. Times are nanoseconds on any monotonic
/// scale the caller chooses.
public enum GCRA {
    /// One step.
    /// - Parameters:
    ///   - storedTAT: the key's theoretical arrival time, or `nil` when the key does not exist.
    ///   - now: the current time.
    ///   - parameters: the limit.
    /// - Returns: the decision, and the TAT to store (`nil` when denied: nothing changes) with
    ///   its time to live.
    @inlinable
    public static func step(storedTAT: Int64?, now: Int64, parameters: GCRAParameters)
        -> (decision: GCRADecision, newTAT: Int64?, ttlNanoseconds: Int64)
    {
        let interval = parameters.emissionInterval.nanoseconds
        let window = parameters.windowNanoseconds
        let tat = max(storedTAT ?? now, now)
        let newTAT = tat.saturatingAdd(interval.saturatingMultiply(Int64(parameters.cost)))
        let allowAt = newTAT.saturatingSubtract(window)
        if now < allowAt {
            let resetAfter = max(0, tat.saturatingSubtract(now))
            return (
                GCRADecision(allowed: false, remaining: 0, retryAfter: .nanoseconds(allowAt.saturatingSubtract(now)), resetAfter: .nanoseconds(resetAfter)),
                nil, resetAfter
            )
        }
        let used = newTAT.saturatingSubtract(now)
        let remaining = interval > 0 ? Int(clamping: window.saturatingSubtract(used) / interval) : parameters.capacity
        return (
            GCRADecision(allowed: true, remaining: max(0, remaining), retryAfter: .zero, resetAfter: .nanoseconds(used)),
            newTAT, max(1, used)
        )
    }
}

extension Int64 {
    // Internal (usable from inlinable code): the GCRA step's arithmetic, not Spillway API.

    /// `self + other`, clamped to `Int64.min...Int64.max` instead of trapping or wrapping.
    @inlinable
    func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, clamped to `Int64.min...Int64.max` instead of trapping or wrapping.
    @inlinable
    func saturatingSubtract(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    /// `self × other`, clamped to `Int64.min...Int64.max` instead of trapping or wrapping.
    @inlinable
    func saturatingMultiply(_ other: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) != (other < 0) ? .min : .max) : product
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating.
    @inlinable
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (s, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return s &+ attoseconds / 1_000_000_000
    }
}
