internal import Synchronization
internal import Metrics

/// Counts of a ``RateLimiter``'s decisions by path, kept in process (for tests and the demo) and
/// sent to swift-metrics as `spillway_ratelimit_decisions_total` with a `path` dimension.
public final class RateLimitStats: Sendable {
    /// A snapshot of the counts.
    public struct Counts: Sendable, Hashable, CustomStringConvertible {
        /// Allowed by the shared cache.
        public var allowed = 0
        /// Denied by the shared cache.
        public var denied = 0
        /// Allowed because the cache failed and the route fails open.
        public var degradedAllow = 0
        /// Denied because the cache failed and the route fails closed.
        public var degradedDeny = 0
        /// Decided by the in-process GCRA because the cache failed.
        public var degradedLocal = 0

        /// Creates counts.
        public init(allowed: Int = 0, denied: Int = 0, degradedAllow: Int = 0, degradedDeny: Int = 0, degradedLocal: Int = 0) {
            self.allowed = allowed
            self.denied = denied
            self.degradedAllow = degradedAllow
            self.degradedDeny = degradedDeny
            self.degradedLocal = degradedLocal
        }

        /// The count for one path.
        public subscript(path: RateLimitPath) -> Int {
            switch path {
            case .allowed: allowed
            case .denied: denied
            case .degradedAllow: degradedAllow
            case .degradedDeny: degradedDeny
            case .degradedLocal: degradedLocal
            }
        }

        /// All decisions.
        public var total: Int { allowed + denied + degradedAllow + degradedDeny + degradedLocal }

        /// Decisions made without the shared cache.
        public var degraded: Int { degradedAllow + degradedDeny + degradedLocal }

        public var description: String {
            RateLimitPath.allCases.map { "\($0)=\(self[$0])" }.joined(separator: " ")
        }
    }

    private let allowed = Atomic<Int>(0)
    private let denied = Atomic<Int>(0)
    private let degradedAllow = Atomic<Int>(0)
    private let degradedDeny = Atomic<Int>(0)
    private let degradedLocal = Atomic<Int>(0)
    private let counters: [Counter]

    /// Creates zeroed counts.
    /// - Parameter limiter: the `limiter` metric dimension, to tell several limiters apart.
    public init(limiter: String = "default") {
        counters = RateLimitPath.allCases.map {
            Counter(label: "spillway_ratelimit_decisions_total", dimensions: [("path", $0.rawValue), ("limiter", limiter)])
        }
    }

    /// The counts so far.
    public var counts: Counts {
        Counts(
            allowed: allowed.load(ordering: .relaxed),
            denied: denied.load(ordering: .relaxed),
            degradedAllow: degradedAllow.load(ordering: .relaxed),
            degradedDeny: degradedDeny.load(ordering: .relaxed),
            degradedLocal: degradedLocal.load(ordering: .relaxed)
        )
    }

    /// Counts one decision.
    public func record(_ path: RateLimitPath) {
        switch path {
        case .allowed: allowed.add(1, ordering: .relaxed)
        case .denied: denied.add(1, ordering: .relaxed)
        case .degradedAllow: degradedAllow.add(1, ordering: .relaxed)
        case .degradedDeny: degradedDeny.add(1, ordering: .relaxed)
        case .degradedLocal: degradedLocal.add(1, ordering: .relaxed)
        }
        switch path {
        case .allowed: counters[0].increment()
        case .denied: counters[1].increment()
        case .degradedAllow: counters[2].increment()
        case .degradedDeny: counters[3].increment()
        case .degradedLocal: counters[4].increment()
        }
    }
}
