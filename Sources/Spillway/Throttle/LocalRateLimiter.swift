internal import Synchronization

/// An in-process GCRA, used by ``RateLimiter`` when the shared cache fails and the route says
/// `onCacheFailure: local`.
///
/// It runs the same ``GCRA/step(storedTAT:now:parameters:)`` as the backends, on its own clock,
/// with a conservative share of the limit (each process allows only its share, so that several
/// processes together stay near the limit). Memory is bounded: at most ``maxKeys`` clients are
/// tracked; when full, the key closest to rest (the earliest theoretical arrival time) is dropped,
/// which is a key that has fully rested whenever there is one (dropping it changes no decision).
/// Finding it costs O(log n): a client that rotates identities on every request cannot turn
/// eviction into a scan of every tracked key.
public final class LocalRateLimiter<C: Clock>: Sendable where C.Duration == Duration {
    /// The most keys tracked at once.
    public let maxKeys: Int
    /// The clock decisions are made on.
    public let clock: C

    private let origin: C.Instant
    private let state = Mutex(TATHeap())

    /// Creates a local limiter.
    /// - Parameters:
    ///   - maxKeys: the most clients tracked at once (at least 1).
    ///   - clock: the clock.
    public init(maxKeys: Int = 10_000, clock: C) {
        self.maxKeys = max(1, maxKeys)
        self.clock = clock
        self.origin = clock.now
    }

    /// The number of keys tracked.
    public var count: Int { state.withLock { $0.count } }

    /// The parameters of a limit scaled to a share (0 < share ≤ 1), at least one request.
    public static func localParameters(_ policy: ThrottlePolicy) -> GCRAParameters {
        let share = min(1, max(0, policy.localShare))
        let limit = max(1, Int((Double(policy.limit) * share).rounded(.down)))
        let burst = max(1, Int((Double(policy.burst ?? policy.limit) * share).rounded(.down)))
        return GCRAParameters(limit: limit, period: policy.period, burst: burst)
    }

    /// One step for `key` with the given parameters.
    public func step(_ key: String, _ parameters: GCRAParameters) -> GCRADecision {
        let now = origin.duration(to: clock.now).nanoseconds
        return state.withLock { tats -> GCRADecision in
            let step = GCRA.step(storedTAT: tats[key], now: now, parameters: parameters)
            if let newTAT = step.newTAT {
                if tats[key] == nil, tats.count >= maxKeys { tats.removeEarliest() }
                tats.set(key, tat: newTAT)
            }
            return step.decision
        }
    }

    /// Heap entries held, live and stale: at most about twice ``count`` (for tests).
    package var heapCount: Int { state.withLock { $0.heapCount } }
}

extension LocalRateLimiter where C == ContinuousClock {
    /// Creates a local limiter on the continuous clock.
    /// - Parameter maxKeys: the most clients tracked at once.
    public convenience init(maxKeys: Int = 10_000) {
        self.init(maxKeys: maxKeys, clock: ContinuousClock())
    }
}
