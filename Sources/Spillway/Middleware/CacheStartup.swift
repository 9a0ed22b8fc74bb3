public import Logging

/// What a middleware sees once, when a ``GuardedCache`` is built: the facade's logger and policy
/// table. ``CacheMiddleware/prepare(_:)`` receives it.
public struct CacheStartup: Sendable {
    /// The facade's logger.
    public var logger: Logger
    /// The facade's policy table.
    public var policies: PolicyTable

    /// Creates the start-up view.
    /// - Parameters:
    ///   - logger: the logger to report configuration problems to.
    ///   - policies: the policy table the cache will resolve from.
    public init(logger: Logger, policies: PolicyTable) {
        self.logger = logger
        self.policies = policies
    }
}
