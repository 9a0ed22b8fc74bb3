public import Hummingbird
public import Spillway
import HTTPTypes

/// A Hummingbird router middleware that rate-limits each route with Spillway's ``RateLimiter``.
///
/// Add it to a router (or a group) so that it runs after the route is matched:
///
/// ```swift
/// let limiter = RateLimiter(store: cache)
/// router.add(middleware: RateLimitMiddleware(limiter: limiter, policies: table))
/// ```
///
/// For each request it builds the route name `"<METHOD> <endpoint path>"` (for example
/// `"GET /orders/{id}"`) from `context.endpointPath`, looks up that route's ``ThrottlePolicy``,
/// and asks the limiter. Denied requests get `429 Too Many Requests` with `Retry-After`;
/// every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
/// `RateLimit-Reset` (seconds, rounded up). The limiter never throws, so a cache failure is
/// never a 500: the route's `onCacheFailure` decides instead. The handler runs with
/// ``CacheRoute/current`` set to the route name, so its cache calls resolve the route's policy.
public struct RateLimitMiddleware<Context: RequestContext, Store: ThrottleStore, C: Clock>: RouterMiddleware
where C.Duration == Duration {
    /// Identifies the client of a request (the rate-limit key within a route).
    public typealias Identify = @Sendable (Request, Context) -> String

    /// The limiter.
    public let limiter: RateLimiter<Store, C>

    private let policies: RouteThrottlePolicies
    private let identify: Identify

    /// Creates the middleware with the throttles of a policy table (route overrides, over the
    /// defaults' throttle).
    /// - Parameters:
    ///   - limiter: the limiter.
    ///   - policies: the table; a route's ``CachePolicy/throttle`` is its limit.
    ///   - identify: who the client is; by default the first `X-Forwarded-For` address, else
    ///     `X-Real-IP`, else one shared `"anonymous"` bucket.
    public init(limiter: RateLimiter<Store, C>, policies: PolicyTable, identify: @escaping Identify = RateLimitMiddleware.defaultIdentify) {
        self.limiter = limiter
        self.policies = .table(policies)
        self.identify = identify
    }

    /// Creates the middleware with a map from route names (`"GET /orders/{id}"`) to limits.
    /// Routes not in the map are not limited.
    /// - Parameters:
    ///   - limiter: the limiter.
    ///   - routes: limits by route name.
    ///   - identify: who the client is (see ``init(limiter:policies:identify:)``).
    public init(limiter: RateLimiter<Store, C>, routes: [String: ThrottlePolicy], identify: @escaping Identify = RateLimitMiddleware.defaultIdentify) {
        self.limiter = limiter
        self.policies = .map(routes)
        self.identify = identify
    }

    /// The default client identity: the first `X-Forwarded-For` address, else `X-Real-IP`,
    /// else `"anonymous"`.
    @Sendable
    public static func defaultIdentify(_ request: Request, _ context: Context) -> String {
        if let forwarded = request.headers[RateLimitHeaders.forwardedFor],
            let first = forwarded.split(separator: ",").first
        {
            let trimmed = first.trimmingPrefix(while: \.isWhitespace)
            if !trimmed.isEmpty { return String(trimmed) }
        }
        if let real = request.headers[RateLimitHeaders.realIP], !real.isEmpty { return real }
        return "anonymous"
    }

    /// The route name used for policies and keys: `"<METHOD> <endpoint path>"`.
    public static func routeName(_ request: Request, _ context: Context) -> String {
        "\(request.method.rawValue) \(context.endpointPath ?? request.uri.path)"
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = Self.routeName(request, context)
        guard let policy = policies.policy(for: route) else {
            return try await CacheRoute.$current.withValue(route) { try await next(request, context) }
        }
        let decision = await limiter.decide(client: identify(request, context), scope: route, policy: policy)
        guard decision.allowed else {
            var headers = HTTPFields()
            RateLimitHeaders.apply(decision, to: &headers)
            return Response(
                status: .tooManyRequests, headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "rate limit exceeded\n"))
            )
        }
        var response = try await CacheRoute.$current.withValue(route) { try await next(request, context) }
        RateLimitHeaders.apply(decision, to: &response.headers)
        return response
    }
}

/// Where a ``RateLimitMiddleware`` finds a route's limit.
enum RouteThrottlePolicies: Sendable {
    case table(PolicyTable)
    case map([String: ThrottlePolicy])

    func policy(for route: String) -> ThrottlePolicy? {
        switch self {
        case .table(let table): table.resolve(route: route, key: nil).throttle
        case .map(let map): map[route]
        }
    }
}
