internal import Synchronization

/// A clock that moves only when a test advances it, so TTLs, windows and rate limits are tested
/// with no sleeping.
///
/// `sleep(until:)` suspends until ``advance(by:)`` moves the clock past the deadline.
public final class ManualClock: Clock, Sendable {
    /// An instant on the manual clock: a duration since its start.
    public struct Instant: InstantProtocol, Sendable, Hashable, Comparable {
        /// The time since the clock was created.
        public var offset: Duration

        /// Creates an instant at an offset from the clock's start.
        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [(id: UInt64, deadline: Instant, continuation: CheckedContinuation<Void, Never>)] = []
        var nextID: UInt64 = 0
        var cancelledBeforeSleeping: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Creates a clock at offset zero.
    public init() {}

    /// The current instant.
    public var now: Instant { state.withLock { $0.now } }

    /// The clock's resolution (one nanosecond).
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are suspended in ``sleep(until:tolerance:)`` right now. A test waits for
    /// this to reach the number it expects before it advances the clock, so that no sleeper
    /// computes its deadline from the already advanced time.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Suspends (yielding, never sleeping) until at least `count` tasks sleep on this clock.
    public func waitForSleepers(_ count: Int = 1) async {
        while sleeperCount < count { await Task.yield() }
    }

    /// Moves time forward, waking sleepers whose deadline has passed.
    public func advance(by duration: Duration) {
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let ready = s.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            s.sleepers.removeAll { $0.deadline <= now }
            return ready
        }
        for c in woken { c.resume() }
    }

    /// Suspends until the clock reaches `deadline`.
    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        // A cancelled sleeper is woken at once and throws, as `ContinuousClock.sleep` does.
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if deadline <= s.now || s.cancelledBeforeSleeping.remove(id) != nil { return true }
                    s.sleepers.append((id, deadline, c))
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let sleeper: CheckedContinuation<Void, Never>? = state.withLock { s in
                if let index = s.sleepers.firstIndex(where: { $0.id == id }) {
                    return s.sleepers.remove(at: index).continuation
                }
                s.cancelledBeforeSleeping.insert(id)
                return nil
            }
            sleeper?.resume()
        }
        state.withLock { _ = $0.cancelledBeforeSleeping.remove(id) }
        try Task.checkCancellation()
    }
}
