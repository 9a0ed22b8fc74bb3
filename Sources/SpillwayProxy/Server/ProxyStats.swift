public import Metrics
import Synchronization

/// What the proxy did, counted: kept in atomics for `spillway proxy`'s status JSON, and sent to
/// swift-metrics as counters named `spillway_proxy_<name>_total`.
public final class ProxyStats: Sendable {
    /// One counted event.
    public enum Event: String, Sendable, CaseIterable {
        /// A client connection accepted.
        case connections
        /// A command forwarded upstream.
        case commands
        /// A key over its route's `maxKeyBytes` (or shaped like a hashed key) rewritten.
        case keysHashed = "keys_hashed"
        /// A command refused because a key broke its route's policy (`keyOverflow: reject`).
        case keysRejected = "keys_rejected"
        /// A command whose keys came from `COMMAND GETKEYS` (incomplete key specs).
        case getKeysLookups = "getkeys_lookups"
        /// A value spilled to the blob store.
        case valuesSpilled = "values_spilled"
        /// A pointer resolved on a read.
        case pointersResolved = "pointers_resolved"
        /// An `-OOM` on an unconditional write answered `+OK` (`onOOM: shed`).
        case writesShed = "writes_shed"
        /// An `-OOM` passed through to the client (conditional write, `onOOM: fail`, other command).
        case oomPassed = "oom_passed"
        /// A client connection closed for bytes that are not RESP.
        case protocolErrors = "protocol_errors"
        /// A client connection closed because the upstream could not be reached or went away.
        case upstreamFailures = "upstream_failures"
    }

    private let counts: Mutex<[Int]>
    private let open = Atomic<Int>(0)
    private let counters: [Counter]

    /// Creates zeroed counters.
    /// - Parameter factory: where the counters go; `nil` uses the global `MetricsSystem`.
    public init(factory: (any MetricsFactory)? = nil) {
        counts = Mutex(Array(repeating: 0, count: Event.allCases.count))
        counters = Event.allCases.map { event in
            let label = "spillway_proxy_\(event.rawValue)_total"
            if let factory { return Counter(label: label, dimensions: [], factory: factory) }
            return Counter(label: label)
        }
    }

    /// Counts `event`.
    public func record(_ event: Event, count: Int = 1) {
        let index = Event.allCases.firstIndex(of: event)!
        counts.withLock { $0[index] += count }
        counters[index].increment(by: count)
    }

    /// How many times `event` happened.
    public func count(_ event: Event) -> Int {
        let index = Event.allCases.firstIndex(of: event)!
        return counts.withLock { $0[index] }
    }

    /// Client connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }

    func connectionOpened() {
        open.add(1, ordering: .relaxed)
        record(.connections)
    }

    func connectionClosed() { open.subtract(1, ordering: .relaxed) }

    /// The counters as one JSON object (`{"connections_open":1,"commands":12,…}`).
    public func json(extra: [(String, String)] = []) -> String {
        var fields = ["\"connections_open\":\(openConnections)"]
        for event in Event.allCases { fields.append("\"\(event.rawValue)\":\(count(event))") }
        for (key, value) in extra { fields.append("\"\(key)\":\(value)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
