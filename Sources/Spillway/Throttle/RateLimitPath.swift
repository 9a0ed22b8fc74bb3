/// How a ``RateLimiter`` reached a decision. Every path is counted.
public enum RateLimitPath: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The shared cache allowed the request.
    case allowed
    /// The shared cache denied the request.
    case denied
    /// The cache failed and the route fails open (`onCacheFailure: allow`).
    case degradedAllow = "degraded_allow"
    /// The cache failed and the route fails closed (`onCacheFailure: deny`).
    case degradedDeny = "degraded_deny"
    /// The cache failed and an in-process GCRA decided (`onCacheFailure: local`), whatever it decided.
    case degradedLocal = "degraded_local"

    /// Whether the shared cache could not be used.
    public var isDegraded: Bool {
        switch self {
        case .allowed, .denied: false
        case .degradedAllow, .degradedDeny, .degradedLocal: true
        }
    }

    public var description: String { rawValue }
}
