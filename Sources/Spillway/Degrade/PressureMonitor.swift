public import Logging
internal import Synchronization
internal import Metrics

/// Watches the backend's memory and tells ``Degrade`` to shed low-priority writes *before* the
/// server starts refusing writes.
///
/// It samples the backend's ``CacheMemoryStats`` (MemoryCache's accounting; Redis `INFO memory`)
/// at most once per ``interval`` on its clock, and only when a low-priority write asks, so that
/// writes of other priorities never pay for it. While the last sample's fill ratio
/// (`used / maxmemory`) is at or above ``threshold``, writes whose policy priority is
/// ``WritePriority/low`` are dropped with ``WriteOutcome/dropped(_:)``. A backend without a
/// memory limit is never under pressure. A failed sample keeps the previous verdict.
public final class PressureMonitor<C: Clock>: Sendable where C.Duration == Duration {
    /// Reads the backend's memory figures.
    public typealias Sampler = @Sendable () async throws(CacheError) -> CacheMemoryStats

    /// The fill ratio at and above which low-priority writes are shed (default 0.9).
    public let threshold: Double
    /// The least time between two samples.
    public let interval: Duration
    /// The clock the interval is measured on.
    public let clock: C

    private let sampler: Sampler

    private struct State {
        var lastSample: C.Instant?
        var sampling = false
        var ratio: Double?
        var samples = 0
    }

    private let state = Mutex(State())
    private let shedding = Atomic<Bool>(false)

    /// Creates a monitor from a sampling function.
    /// - Parameters:
    ///   - threshold: the fill ratio that starts shedding (0 < threshold ≤ 1; default 0.9).
    ///   - interval: the least time between samples.
    ///   - clock: the clock to measure it on.
    ///   - sample: reads the backend's memory figures.
    public init(threshold: Double = 0.9, interval: Duration = .seconds(1), clock: C, sample: @escaping Sampler) {
        self.threshold = threshold
        self.interval = interval
        self.clock = clock
        self.sampler = sample
    }

    /// Creates a monitor that samples a client's ``CacheClient/memoryStats()``.
    /// - Parameters:
    ///   - client: the backend to watch.
    ///   - threshold: the fill ratio that starts shedding (default 0.9).
    ///   - interval: the least time between samples.
    ///   - clock: the clock to measure it on.
    public convenience init(client: some CacheClient, threshold: Double = 0.9, interval: Duration = .seconds(1), clock: C) {
        self.init(threshold: threshold, interval: interval, clock: clock) { () async throws(CacheError) -> CacheMemoryStats in
            try await client.memoryStats()
        }
    }

    /// Whether the last sample was at or above the threshold.
    public var isShedding: Bool { shedding.load(ordering: .relaxed) }

    /// The fill ratio of the last successful sample, if any.
    public var lastRatio: Double? { state.withLock { $0.ratio } }

    /// How many samples have been taken.
    public var samples: Int { state.withLock { $0.samples } }

    /// Whether a low-priority write should be shed now, sampling first if the last sample is
    /// older than ``interval`` (and no other task is already sampling).
    /// - Parameter logger: where a failed sample or a change of verdict is logged.
    package func shouldShedLowPriority(logger: Logger) async -> Bool {
        let now = clock.now
        let due = state.withLock { s -> Bool in
            guard !s.sampling else { return false }
            if let last = s.lastSample, last.duration(to: now) < interval { return false }
            s.sampling = true
            s.lastSample = now
            return true
        }
        if due { await sample(logger: logger) }
        return shedding.load(ordering: .relaxed)
    }

    /// Takes one sample now and updates the verdict.
    /// - Parameter logger: where a failed sample or a change of verdict is logged.
    public func sample(logger: Logger) async {
        let result: Result<CacheMemoryStats, CacheError>
        do {
            result = .success(try await sampler())
        } catch {
            result = .failure(error)
        }
        let (old, new) = state.withLock { s -> (Bool, Bool) in
            s.sampling = false
            s.samples += 1
            let old = shedding.load(ordering: .relaxed)
            guard case .success(let stats) = result else { return (old, old) }
            s.ratio = stats.fillRatio
            let new = (stats.fillRatio ?? 0) >= threshold
            shedding.store(new, ordering: .relaxed)
            return (old, new)
        }
        if case .failure(let error) = result {
            logger.debug("spillway pressure monitor could not sample memory", metadata: ["error": "\(error)"])
        }
        if old != new {
            Gauge(label: "spillway_memory_pressure_shedding").record(new ? 1 : 0)
            logger.notice(
                "spillway memory pressure \(new ? "above" : "below") threshold; low-priority writes \(new ? "are shed" : "flow again")",
                metadata: ["threshold": "\(threshold)"])
        }
    }
}

extension PressureMonitor where C == ContinuousClock {
    /// Creates a monitor on the continuous clock that samples a client.
    /// - Parameters:
    ///   - client: the backend to watch.
    ///   - threshold: the fill ratio that starts shedding (default 0.9).
    ///   - interval: the least time between samples.
    public convenience init(client: some CacheClient, threshold: Double = 0.9, interval: Duration = .seconds(1)) {
        self.init(client: client, threshold: threshold, interval: interval, clock: ContinuousClock())
    }
}
