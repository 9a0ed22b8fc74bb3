public import NIOCore

/// The policy table: defaults, per-route overrides and per-key-prefix overrides.
///
/// Resolution layers, most specific last: the defaults, then the route's overrides, then the
/// overrides of the matching key prefixes from shortest to longest (a longer prefix inherits from
/// the shorter ones it extends). So a `lock:` prefix that says
/// `onOOM: fail` wins over an upload route that says `shed`, because the kind of key is more
/// specific than the request that writes it. Every combination is computed once, at init, so
/// resolving costs one dictionary lookup and a prefix scan.
public struct PolicyTable: Sendable {
    /// The defaults.
    public var defaults: CachePolicy { storage.defaults }
    /// Route overrides, by exact route (`"POST /orders/upload"`, `"job:resize"`).
    public var routes: [String: PolicyOverrides] { storage.routes }
    /// Whether the cache must refuse to start when its ``KeyGuard`` hashes keys with the public
    /// default key material (``KeyHasher/defaultKeyMaterial``). Off by default (a warning is
    /// logged and counted instead); turn it on in production.
    public var requireSecret: Bool { storage.requireSecret }
    /// Prefix overrides, longest prefix first.
    public var prefixes: [(prefix: String, overrides: PolicyOverrides)] { storage.prefixes }

    /// Everything lives in one immutable object, so copying a table (into every operation's
    /// context) is a single reference count, not one per dictionary.
    @usableFromInline let storage: Storage

    @usableFromInline
    final class Storage: Sendable {
        let defaults: CachePolicy
        let requireSecret: Bool
        let routes: [String: PolicyOverrides]
        let prefixes: [(prefix: String, overrides: PolicyOverrides)]
        @usableFromInline let prefixBytes: [ByteBuffer]
        /// Slot per route; slot 0 is "no route (or an unknown one)".
        @usableFromInline let routeSlots: [String: Int]
        /// The resolved policy of each slot without a prefix.
        @usableFromInline let bases: [ResolvedPolicy]
        /// The resolved policy of each slot and prefix, at `slot * prefixBytes.count + prefix`.
        @usableFromInline let withPrefix: [ResolvedPolicy]

        init(defaults: CachePolicy, routes: [String: PolicyOverrides], prefixes: [String: PolicyOverrides], requireSecret: Bool) {
            self.defaults = defaults
            self.requireSecret = requireSecret
            self.routes = routes
            let sorted = prefixes.sorted { $0.key.utf8.count != $1.key.utf8.count ? $0.key.utf8.count > $1.key.utf8.count : $0.key < $1.key }
            self.prefixes = sorted.map { (prefix: $0.key, overrides: $0.value) }
            self.prefixBytes = sorted.map { ByteBuffer(string: $0.key) }
            // A longer prefix inherits from the shorter prefixes it extends (`lock:payments:` from `lock:`).
            let chains: [[PolicyOverrides]] = sorted.map { entry in
                sorted.filter { entry.key.hasPrefix($0.key) }
                    .sorted { $0.key.utf8.count < $1.key.utf8.count }
                    .map(\.value)
            }
            let routeNames = routes.keys.sorted()
            var slots: [String: Int] = [:]
            var bases = [defaults]
            for (offset, name) in routeNames.enumerated() {
                slots[name] = offset + 1
                bases.append(routes[name]!.applied(to: defaults))
            }
            self.routeSlots = slots
            self.bases = bases.map(ResolvedPolicy.init)
            self.withPrefix = bases.flatMap { base in chains.map { chain in ResolvedPolicy(chain.reduce(base) { $1.applied(to: $0) }) } }
        }
    }

    /// Creates a table.
    /// - Parameters:
    ///   - defaults: the policy for everything not overridden.
    ///   - routes: overrides by exact route name.
    ///   - prefixes: overrides by key prefix; matching prefixes apply from shortest to longest.
    ///   - requireSecret: refuse to start with the public default key-hash material (see
    ///     ``requireSecret``).
    public init(
        defaults: CachePolicy = CachePolicy(), routes: [String: PolicyOverrides] = [:], prefixes: [String: PolicyOverrides] = [:],
        requireSecret: Bool = false
    ) {
        self.storage = Storage(defaults: defaults, routes: routes, prefixes: prefixes, requireSecret: requireSecret)
    }

    /// Resolves the policy for a route and the first key of an operation. The key is looked at
    /// only when the table has prefixes.
    @inlinable
    public func resolve(route: String?, operation: CacheOperation) -> CachePolicy {
        resolved(route: route, operation: operation).policy
    }

    /// Resolves the policy for a route and a key.
    @inlinable
    public func resolve(route: String?, key: CacheKey?) -> CachePolicy {
        resolved(route: route, key: key).policy
    }

    @inlinable
    func resolved(route: String?, operation: CacheOperation) -> ResolvedPolicy {
        storage.prefixBytes.isEmpty ? resolved(route: route, key: nil) : resolved(route: route, key: operation.primaryKey)
    }

    /// The shared resolved policy: indices, not copies.
    @inlinable
    func resolved(route: String?, key: CacheKey?) -> ResolvedPolicy {
        let storage = self.storage
        var slot = 0
        if let route, !storage.routeSlots.isEmpty, let found = storage.routeSlots[route] {
            slot = found
        }
        let prefixCount = storage.prefixBytes.count
        if let key, prefixCount > 0 {
            for index in 0..<prefixCount where key.hasPrefix(storage.prefixBytes[index]) {
                return storage.withPrefix[slot * prefixCount + index]
            }
        }
        return storage.bases[slot]
    }
}
