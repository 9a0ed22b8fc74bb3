/// The cluster client's routing and topology-refresh logic, as a pure value: events in (a
/// redirection, a failed connection, a refresh's result, a tick), decisions out. It holds no
/// sockets and reads no clock, so its tests need neither.
///
/// - Routing: the slot map of the last refresh, patched by each `MOVED`.
/// - Refreshes: at most one in flight; a request while one runs is coalesced; a request sooner
///   than ``minInterval`` plus a jitter after the last one started is throttled and remembered:
///   the first operation after the interval runs it (a trailing refresh), so the last change of a
///   burst is always read, and refreshes stay at most one per interval. A refresh asks the known masters first
///   (those that failed last), then the seeds.
struct RedisClusterRouter: Sendable {
    /// Why a refresh is asked for.
    enum Reason: String, Sendable, CaseIterable {
        /// No slot map yet.
        case initial
        /// A `MOVED` redirection.
        case moved
        /// A node refused or dropped a connection.
        case connectionFailed = "connection_failed"
        /// A node answered `READONLY` (it is a replica now).
        case readOnly = "readonly"
        /// `CLUSTERDOWN`, or a slot with no master in the map.
        case clusterDown = "clusterdown"
        /// The service's periodic tick.
        case periodic
    }

    /// What the caller does after an event.
    enum Decision: Equatable, Sendable {
        /// Nothing (no refresh needed, one in flight, or too soon after the last).
        case none
        /// Run a refresh, asking these nodes in order until one answers, then report
        /// ``refreshSucceeded(_:now:)`` or ``refreshFailed(now:)``.
        case refresh(candidates: [RedisClusterNodeAddress], reason: Reason)
    }

    let seeds: [RedisClusterNodeAddress]
    let minInterval: Duration
    private(set) var topology: RedisClusterTopology?
    private(set) var refreshing = false
    private var nextAllowed: ContinuousClock.Instant?
    private var unreachable: Set<RedisClusterNodeAddress> = []
    /// A request dropped because it came too soon: run once the interval allows (a trailing
    /// refresh), so the last change of a burst is not missed.
    private(set) var pending: Reason?
    private(set) var stats = RedisClusterStats()

    init(seeds: [RedisClusterNodeAddress], minInterval: Duration) {
        self.seeds = seeds
        self.minInterval = minInterval
    }

    /// The master to send a command for `slot` to; `nil` before the first refresh, or when no
    /// master serves the slot.
    func route(slot: Int) -> RedisClusterNodeAddress? {
        topology?.master(forSlot: slot)
    }

    /// `MOVED slot address`: the slot is patched at once (so the retry goes right) and a refresh
    /// is asked for (other slots probably moved too).
    mutating func moved(slot: Int, to address: RedisClusterNodeAddress, now: ContinuousClock.Instant, jitter: Duration) -> Decision {
        stats.moved += 1
        var map = topology ?? RedisClusterTopology()
        map.assign(slot...slot, to: address)
        topology = map
        return requestRefresh(.moved, now: now, jitter: jitter)
    }

    /// `ASK slot address`: counted; the map does not change.
    mutating func asked() {
        stats.asked += 1
    }

    /// The client of a node that left the topology was closed: counted.
    mutating func nodeClosed() {
        stats.nodesClosed += 1
    }

    /// A command is retried after a transient refusal (TRYAGAIN, CLUSTERDOWN, LOADING,
    /// MASTERDOWN) or a failed connection: counted.
    mutating func retried() {
        stats.retries += 1
    }

    /// A connection to `address` failed: it is asked last in the next refreshes, and a refresh is
    /// asked for (a master may have died and a replica taken over).
    mutating func connectionFailed(_ address: RedisClusterNodeAddress, now: ContinuousClock.Instant, jitter: Duration) -> Decision {
        unreachable.insert(address)
        return requestRefresh(.connectionFailed, now: now, jitter: jitter)
    }

    /// Asks for a refresh; see the type's notes for when one runs.
    /// With `force`, the minimum interval does not apply (an explicit refresh), the single
    /// flight does.
    mutating func requestRefresh(_ reason: Reason, now: ContinuousClock.Instant, jitter: Duration, force: Bool = false) -> Decision {
        if refreshing {
            stats.refreshesCoalesced += 1
            return .none
        }
        if !force, let nextAllowed, now < nextAllowed {
            stats.refreshesThrottled += 1
            if pending == nil { pending = reason }
            return .none
        }
        pending = nil
        refreshing = true
        nextAllowed = now + minInterval + max(.zero, jitter)
        stats.refreshes += 1
        return .refresh(candidates: candidates(), reason: reason)
    }

    /// The trailing refresh: when a request was throttled and the interval has now passed (and
    /// none is in flight), start it. Checked as each operation starts.
    mutating func pendingRefreshDue(now: ContinuousClock.Instant, jitter: Duration) -> Decision {
        guard let pending, !refreshing, let nextAllowed, now >= nextAllowed else { return .none }
        return requestRefresh(pending, now: now, jitter: jitter)
    }

    /// The nodes a refresh asks, in order: reachable masters, reachable seeds, then the rest.
    func candidates() -> [RedisClusterNodeAddress] {
        var ordered: [RedisClusterNodeAddress] = []
        var seen: Set<RedisClusterNodeAddress> = []
        let all = (topology?.masters ?? []) + seeds
        for address in all where !unreachable.contains(address) && seen.insert(address).inserted { ordered.append(address) }
        for address in all where seen.insert(address).inserted { ordered.append(address) }
        return ordered
    }

    /// A refresh read `topology`: it replaces the map.
    mutating func refreshSucceeded(_ topology: RedisClusterTopology, now: ContinuousClock.Instant) {
        refreshing = false
        self.topology = topology
        unreachable = unreachable.filter { !topology.masters.contains($0) }
    }

    /// No node answered the refresh: the map stays.
    mutating func refreshFailed(now: ContinuousClock.Instant) {
        refreshing = false
        stats.refreshFailures += 1
    }
}
