package import Logging
internal import Synchronization
internal import Metrics

/// A circuit breaker for writes: it stops sending writes to a backend that keeps answering
/// out-of-memory, and probes until the backend accepts them again.
///
/// - **closed**: writes are sent. After ``Configuration/threshold`` out-of-memory replies within
///   ``Configuration/window`` it opens.
/// - **open**: writes are not sent; ``Degrade`` applies the route's `onOOM` action as if the
///   backend had refused them. After ``Configuration/openDuration`` it becomes half-open.
/// - **halfOpen**: up to ``Configuration/probes`` writes at a time are sent as probes. A probe
///   that succeeds closes the breaker; one refused with out-of-memory opens it again. Other
///   writes meanwhile follow `onOOM` without being sent.
///
/// Time is read from an injectable clock, so tests drive it with a manual clock. The state is
/// published as the gauge `spillway_write_breaker_state` (0 closed, 1 half-open, 2 open) with a
/// `breaker` dimension, and each change is logged once, at `notice`.
///
/// The closed-state check on the no-fault path is one atomic load.
public final class WriteBreaker<C: Clock>: Sendable where C.Duration == Duration {
    /// The breaker's state.
    public enum State: UInt8, Sendable, Hashable, CustomStringConvertible {
        /// Writes are sent.
        case closed = 0
        /// Probe writes are sent; the rest degrade.
        case halfOpen = 1
        /// No write is sent.
        case open = 2

        public var description: String {
            switch self {
            case .closed: "closed"
            case .halfOpen: "half-open"
            case .open: "open"
            }
        }
    }

    /// When a breaker opens and how it recovers.
    public struct Configuration: Sendable, Hashable {
        /// Out-of-memory replies that open the breaker...
        public var threshold: Int
        /// ...when they all fall within this window.
        public var window: Duration
        /// How long the breaker stays open before it lets a probe through.
        public var openDuration: Duration
        /// How many probe writes may be in flight at once while half-open.
        public var probes: Int

        /// Creates a configuration.
        /// - Parameters:
        ///   - threshold: out-of-memory replies that open the breaker (at least 1).
        ///   - window: the window they must fall within.
        ///   - openDuration: time open before probing.
        ///   - probes: concurrent probe writes while half-open (at least 1).
        public init(threshold: Int = 5, window: Duration = .seconds(10), openDuration: Duration = .seconds(5), probes: Int = 1) {
            self.threshold = max(1, threshold)
            self.window = window
            self.openDuration = openDuration
            self.probes = max(1, probes)
        }
    }

    /// What the breaker tells ``Degrade`` to do with one write.
    package enum Admission: Sendable, Hashable {
        /// Send it.
        case send
        /// Send it as a probe; report its result with ``probeSucceeded(logger:)`` or
        /// ``recordOutOfMemory(probe:logger:)``, or ``probeAbandoned()``.
        case probe
        /// Do not send it: degrade as if the backend had answered out-of-memory.
        case reject
    }

    /// The breaker's name, used as the metric dimension and in log lines.
    public let name: String
    /// The configuration.
    public let configuration: Configuration
    /// The clock that windows and the open period are measured on.
    public let clock: C

    private struct Inner {
        var state: State = .closed
        /// Instants of recent out-of-memory replies while closed (a ring of `threshold`).
        var recent: [C.Instant] = []
        var nextSlot = 0
        var openedAt: C.Instant?
        var probesInFlight = 0
        var transitions = 0
    }

    private let inner = Mutex(Inner())
    private let fastState = Atomic<UInt8>(State.closed.rawValue)
    private let gauge: Gauge

    /// Creates a breaker.
    /// - Parameters:
    ///   - name: the metric dimension and log name.
    ///   - configuration: thresholds and timings.
    ///   - clock: the clock to measure them on.
    public init(name: String = "default", configuration: Configuration = Configuration(), clock: C) {
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.gauge = Gauge(label: "spillway_write_breaker_state", dimensions: [("breaker", name)])
        gauge.record(Int(State.closed.rawValue))
    }

    /// The current state (an open breaker whose period has passed still reads `open` until the
    /// next write asks for admission).
    public var state: State { State(rawValue: fastState.load(ordering: .relaxed)) ?? .closed }

    /// How many times the state has changed.
    public var transitions: Int { inner.withLock { $0.transitions } }

    /// Whether the breaker is closed: one atomic load, for the no-fault path.
    @usableFromInline
    var isClosed: Bool { fastState.load(ordering: .relaxed) == State.closed.rawValue }

    /// Decides what to do with a write while the breaker is not closed (or just to be sure).
    /// - Parameter logger: where a state change is logged.
    package func admit(logger: Logger) -> Admission {
        if isClosed { return .send }
        let now = clock.now
        let (admission, change) = inner.withLock { s -> (Admission, (State, State)?) in
            switch s.state {
            case .closed:
                return (.send, nil)
            case .open:
                guard let openedAt = s.openedAt, openedAt.duration(to: now) >= configuration.openDuration else {
                    return (.reject, nil)
                }
                let change = transition(&s, to: .halfOpen)
                s.probesInFlight = 1
                return (.probe, change)
            case .halfOpen:
                guard s.probesInFlight < configuration.probes else { return (.reject, nil) }
                s.probesInFlight += 1
                return (.probe, nil)
            }
        }
        if let change { publish(change, logger: logger) }
        return admission
    }

    /// Records an out-of-memory reply to a write that was sent.
    /// - Parameters:
    ///   - probe: whether the write was a probe (admitted with ``Admission/probe``).
    ///   - logger: where a state change is logged.
    package func recordOutOfMemory(probe: Bool, logger: Logger) {
        let now = clock.now
        let change = inner.withLock { s -> (State, State)? in
            if probe { s.probesInFlight = max(0, s.probesInFlight - 1) }
            switch s.state {
            case .open:
                return nil
            case .halfOpen:
                s.openedAt = now
                s.probesInFlight = 0
                return transition(&s, to: .open)
            case .closed:
                let n = configuration.threshold
                if s.recent.count < n {
                    s.recent.append(now)
                } else {
                    s.recent[s.nextSlot] = now
                }
                s.nextSlot = (s.nextSlot + 1) % n
                guard s.recent.count == n else { return nil }
                // The oldest of the last n replies is the one the next slot points at.
                let oldest = s.recent[s.nextSlot]
                guard oldest.duration(to: now) <= configuration.window else { return nil }
                s.openedAt = now
                return transition(&s, to: .open)
            }
        }
        if let change { publish(change, logger: logger) }
    }

    /// Records that a probe write succeeded: the breaker closes.
    /// - Parameter logger: where the state change is logged.
    package func probeSucceeded(logger: Logger) {
        let change = inner.withLock { s -> (State, State)? in
            s.probesInFlight = max(0, s.probesInFlight - 1)
            guard s.state == .halfOpen else { return nil }
            s.probesInFlight = 0
            return transition(&s, to: .closed)
        }
        if let change { publish(change, logger: logger) }
    }

    /// Records that a probe ended with neither success nor out-of-memory (another failure), so
    /// its slot is free for the next probe.
    package func probeAbandoned() {
        inner.withLock { s in s.probesInFlight = max(0, s.probesInFlight - 1) }
    }

    private func transition(_ s: inout Inner, to new: State) -> (State, State)? {
        let old = s.state
        guard old != new else { return nil }
        s.state = new
        s.transitions += 1
        if new == .closed {
            s.recent.removeAll(keepingCapacity: true)
            s.nextSlot = 0
            s.openedAt = nil
        }
        fastState.store(new.rawValue, ordering: .relaxed)
        return (old, new)
    }

    private func publish(_ change: (State, State), logger: Logger) {
        gauge.record(Int(change.1.rawValue))
        logger.notice(
            "spillway write breaker \(change.0) -> \(change.1)",
            metadata: ["breaker": "\(name)", "from": "\(change.0)", "to": "\(change.1)"]
        )
    }
}

extension WriteBreaker where C == ContinuousClock {
    /// Creates a breaker on the continuous clock.
    /// - Parameters:
    ///   - name: the metric dimension and log name.
    ///   - configuration: thresholds and timings.
    public convenience init(name: String = "default", configuration: Configuration = Configuration()) {
        self.init(name: name, configuration: configuration, clock: ContinuousClock())
    }
}
