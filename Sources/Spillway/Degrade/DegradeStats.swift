internal import Synchronization

/// Counts of what ``Degrade`` did, for tests, the demo and dashboards (the same events are also
/// counted through swift-metrics).
public final class DegradeStats: Sendable {
    /// A snapshot of the counts.
    public struct Counts: Sendable, Hashable {
        /// Writes dropped and reported as ``WriteOutcome/dropped(_:)`` (policy `shed`).
        public var shed: Int
        /// Writes kept in the fallback store (``WriteOutcome/storedLocally(_:)``).
        public var storedLocally: Int
        /// Failures rethrown to the caller (policy `fail`, or no policy for the class).
        public var failed: Int
        /// Writes not sent because the write breaker was open.
        public var breakerRejected: Int
        /// Low-priority writes dropped by the pressure monitor before the server refused any.
        public var pressureShed: Int
        /// Reads answered from the fallback store.
        public var fallbackHits: Int
        /// Reads (`get`, `mget`, `exists`) that failed with a transport class and were answered
        /// as a miss (policy ``CachePolicy/onReadFailure`` `miss`).
        public var readsDegraded: Int
        /// Old values deleted because an unconditional overwrite of them was shed or kept
        /// locally (so that no reader gets the value the write meant to replace).
        public var invalidated: Int
        /// Such deletes that failed too (the old value stays readable until it expires).
        public var invalidationsFailed: Int

        /// Creates counts.
        public init(
            shed: Int = 0, storedLocally: Int = 0, failed: Int = 0, breakerRejected: Int = 0, pressureShed: Int = 0, fallbackHits: Int = 0,
            readsDegraded: Int = 0, invalidated: Int = 0, invalidationsFailed: Int = 0
        ) {
            self.shed = shed
            self.storedLocally = storedLocally
            self.failed = failed
            self.breakerRejected = breakerRejected
            self.pressureShed = pressureShed
            self.fallbackHits = fallbackHits
            self.readsDegraded = readsDegraded
            self.invalidated = invalidated
            self.invalidationsFailed = invalidationsFailed
        }
    }

    @usableFromInline
    enum Event: Int, CaseIterable {
        case shed, storedLocally, failed, breakerRejected, pressureShed, fallbackHits, readsDegraded, invalidated, invalidationsFailed
    }

    private let shed = Atomic<Int>(0)
    private let storedLocally = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let breakerRejected = Atomic<Int>(0)
    private let pressureShed = Atomic<Int>(0)
    private let fallbackHits = Atomic<Int>(0)
    private let readsDegraded = Atomic<Int>(0)
    private let invalidated = Atomic<Int>(0)
    private let invalidationsFailed = Atomic<Int>(0)

    /// Creates zeroed counts.
    public init() {}

    /// The counts so far.
    public var counts: Counts {
        Counts(
            shed: shed.load(ordering: .relaxed),
            storedLocally: storedLocally.load(ordering: .relaxed),
            failed: failed.load(ordering: .relaxed),
            breakerRejected: breakerRejected.load(ordering: .relaxed),
            pressureShed: pressureShed.load(ordering: .relaxed),
            fallbackHits: fallbackHits.load(ordering: .relaxed),
            readsDegraded: readsDegraded.load(ordering: .relaxed),
            invalidated: invalidated.load(ordering: .relaxed),
            invalidationsFailed: invalidationsFailed.load(ordering: .relaxed)
        )
    }

    @usableFromInline
    func record(_ event: Event) {
        switch event {
        case .shed: shed.add(1, ordering: .relaxed)
        case .storedLocally: storedLocally.add(1, ordering: .relaxed)
        case .failed: failed.add(1, ordering: .relaxed)
        case .breakerRejected: breakerRejected.add(1, ordering: .relaxed)
        case .pressureShed: pressureShed.add(1, ordering: .relaxed)
        case .fallbackHits: fallbackHits.add(1, ordering: .relaxed)
        case .readsDegraded: readsDegraded.add(1, ordering: .relaxed)
        case .invalidated: invalidated.add(1, ordering: .relaxed)
        case .invalidationsFailed: invalidationsFailed.add(1, ordering: .relaxed)
        }
    }
}
