internal import Metrics
internal import Synchronization

/// The key guard's metrics, created once per route and reused, so an oversized key costs no
/// allocation for its counters (creating a swift-metrics `Counter` allocates it and its
/// dimensions and takes the factory's lock).
@usableFromInline
final class KeyGuardMetrics: Sendable {
    static let hashed = "spillway_keys_hashed_total"
    static let rejected = "spillway_keys_rejected_total"
    static let strictFailures = "spillway_keys_strict_failures_total"
    static let oversizedBytes = "spillway_oversized_key_bytes"
    static let hashShaped = "spillway_keys_hash_shaped_total"
    static let defaultSecret = "spillway_key_hash_default_secret_total"

    /// The most routes whose metrics are kept; beyond it, metrics are created per use.
    static let maxRoutes = 1024

    struct Route {
        let hashed: Counter
        let rejected: Counter
        let strictFailures: Counter
        let hashShaped: Counter
        let oversizedBytes: Recorder
    }

    let factory: (any MetricsFactory)?
    private let routes = Mutex<[String: Route]>([:])

    init(factory: (any MetricsFactory)?) { self.factory = factory }

    /// The metrics of `route` (`"-"` for none).
    func route(_ name: String) -> Route {
        if let found = routes.withLock({ $0[name] }) { return found }
        let made = Route(
            hashed: counter(Self.hashed, name),
            rejected: counter(Self.rejected, name),
            strictFailures: counter(Self.strictFailures, name),
            hashShaped: counter(Self.hashShaped, name),
            oversizedBytes: factory.map { Recorder(label: Self.oversizedBytes, dimensions: [("route", name)], factory: $0) }
                ?? Recorder(label: Self.oversizedBytes, dimensions: [("route", name)])
        )
        routes.withLock { table in
            if table.count < Self.maxRoutes { table[name] = made }
        }
        return made
    }

    /// Counts one start with the public default key material.
    func countDefaultSecret() {
        (factory.map { Counter(label: Self.defaultSecret, factory: $0) } ?? Counter(label: Self.defaultSecret)).increment()
    }

    private func counter(_ label: String, _ route: String) -> Counter {
        if let factory { return Counter(label: label, dimensions: [("route", route)], factory: factory) }
        return Counter(label: label, dimensions: [("route", route)])
    }
}
