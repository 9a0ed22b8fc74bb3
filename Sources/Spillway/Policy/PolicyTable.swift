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
    public let defaults: CachePolicy
    /// Route overrides, by exact route (`"POST /orders/upload"`, `"job:resize"`).
    public let routes: [String: PolicyOverrides]
    /// Prefix overrides, longest prefix first.
    public let prefixes: [(prefix: String, overrides: PolicyOverrides)]

    @usableFromInline let prefixBytes: [ByteBuffer]
    @usableFromInline let routeResolved: [String: Resolved]
    @usableFromInline let noRoute: Resolved

    @usableFromInline
    struct Resolved: Sendable {
        @usableFromInline var base: CachePolicy
        /// Indexed like `prefixBytes`.
        @usableFromInline var withPrefix: [CachePolicy]
    }

    /// Creates a table.
    /// - Parameters:
    ///   - defaults: the policy for everything not overridden.
    ///   - routes: overrides by exact route name.
    ///   - prefixes: overrides by key prefix; the longest matching prefix applies.
    public init(defaults: CachePolicy = CachePolicy(), routes: [String: PolicyOverrides] = [:], prefixes: [String: PolicyOverrides] = [:]) {
        self.defaults = defaults
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
        func resolve(_ base: CachePolicy) -> Resolved {
            Resolved(base: base, withPrefix: chains.map { chain in chain.reduce(base) { $1.applied(to: $0) } })
        }
        self.noRoute = resolve(defaults)
        self.routeResolved = routes.mapValues { resolve($0.applied(to: defaults)) }
    }

    /// Resolves the policy for a route and a key.
    @inlinable
    public func resolve(route: String?, key: CacheKey?) -> CachePolicy {
        let resolved: Resolved
        if let route, !routeResolved.isEmpty, let r = routeResolved[route] {
            resolved = r
        } else {
            resolved = noRoute
        }
        if let key, !prefixBytes.isEmpty {
            for index in prefixBytes.indices where key.hasPrefix(prefixBytes[index]) {
                return resolved.withPrefix[index]
            }
        }
        return resolved.base
    }
}
