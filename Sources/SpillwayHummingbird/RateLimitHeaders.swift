public import HTTPTypes
public import Spillway

/// The rate-limit response headers (IETF `RateLimit-*` fields and `Retry-After`).
public enum RateLimitHeaders {
    /// `RateLimit-Limit`: requests allowed per period.
    public static let limit = HTTPField.Name("RateLimit-Limit")!
    /// `RateLimit-Remaining`: requests left right now.
    public static let remaining = HTTPField.Name("RateLimit-Remaining")!
    /// `RateLimit-Reset`: seconds until the full budget is back.
    public static let reset = HTTPField.Name("RateLimit-Reset")!
    /// `Retry-After`: seconds to wait before retrying (on 429 only).
    public static let retryAfter = HTTPField.Name("Retry-After")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// Whole seconds, rounded up (a wait of 1.2 s is reported as 2). Never traps: a duration
    /// beyond `Int64` nanoseconds saturates (about 292 years).
    public static func seconds(_ duration: Duration) -> Int {
        let ns = duration.nanoseconds
        guard ns > 0 else { return 0 }
        let (whole, rest) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
        return Int(whole) + (rest > 0 ? 1 : 0)
    }

    /// Sets the headers of a decision: the `RateLimit-*` fields always, `Retry-After` (at least
    /// one second) when denied.
    public static func apply(_ decision: RateLimitDecision, to headers: inout HTTPFields) {
        headers[limit] = String(decision.limit)
        headers[remaining] = String(decision.remaining)
        headers[reset] = String(seconds(decision.resetAfter))
        if !decision.allowed {
            headers[retryAfter] = String(max(1, seconds(decision.retryAfter)))
        }
    }
}
