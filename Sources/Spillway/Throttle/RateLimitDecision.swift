/// A ``RateLimiter``'s answer for one request.
public struct RateLimitDecision: Sendable, Hashable {
    /// Whether the request may pass.
    public var allowed: Bool
    /// The limit that applied (requests per period; the local share under `degraded_local`).
    public var limit: Int
    /// How many more requests would pass right now.
    public var remaining: Int
    /// When denied, how long until a request would pass; zero when allowed.
    public var retryAfter: Duration
    /// How long until the client is back at its full burst.
    public var resetAfter: Duration
    /// How the decision was reached.
    public var path: RateLimitPath
    /// The cache failure behind a degraded decision.
    public var failure: CacheError.Code?

    /// Creates a decision.
    public init(
        allowed: Bool, limit: Int, remaining: Int, retryAfter: Duration, resetAfter: Duration,
        path: RateLimitPath, failure: CacheError.Code? = nil
    ) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.retryAfter = retryAfter
        self.resetAfter = resetAfter
        self.path = path
        self.failure = failure
    }
}
