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
/// With a context that carries the connection's peer address (Hummingbird's
/// `RemoteAddressRequestContext`), the client is that address, or the address a trusted proxy
/// names in `X-Forwarded-For` (``ClientIdentity``). Other contexts must say who the client is
/// (`identify:`): there is no silent shared bucket.
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
    /// Identifies the client of a request (the rate-limit key within a route). `nil` means the
    /// request cannot be attributed: it is limited in one shared `"unidentified"` bucket, counted
    /// in `spillway_ratelimit_unidentified_total`, and logged once at warning.
    public typealias Identify = @Sendable (Request, Context) -> String?

    /// The limiter.
    public let limiter: RateLimiter<Store, C>

    private let policies: RouteThrottlePolicies
    private let identify: Identify
    private let unidentified = UnidentifiedClients()

    /// Creates the middleware with the throttles of a policy table (route overrides, over the
    /// defaults' throttle) and your own client identity.
    ///
    /// A context that carries the peer address (`RemoteAddressRequestContext`) gets a default
    /// identity from the connection instead; see ``init(limiter:policies:clientIdentity:)``.
    /// Never build the identity from a header the client controls (`X-Forwarded-For` without a
    /// trusted proxy in front): a client would then pick a fresh identity on every request.
    /// - Parameters:
    ///   - limiter: the limiter.
    ///   - policies: the table; a route's ``CachePolicy/throttle`` is its limit.
    ///   - identify: who the client is (an authenticated user id, an API key id, ...).
    public init(limiter: RateLimiter<Store, C>, policies: PolicyTable, identify: @escaping Identify) {
        self.limiter = limiter
        self.policies = .table(policies)
        self.identify = identify
    }

    /// Creates the middleware with a map from route names (`"GET /orders/{id}"`) to limits and
    /// your own client identity. Routes not in the map are not limited.
    /// - Parameters:
    ///   - limiter: the limiter.
    ///   - routes: limits by route name.
    ///   - identify: who the client is (see ``init(limiter:policies:identify:)``).
    public init(limiter: RateLimiter<Store, C>, routes: [String: ThrottlePolicy], identify: @escaping Identify) {
        self.limiter = limiter
        self.policies = .map(routes)
        self.identify = identify
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
        let client: String
        if let identified = identify(request, context) {
            client = identified
        } else {
            unidentified.record(route: route, logger: context.logger)
            client = UnidentifiedClients.bucket
        }
        let decision = await limiter.decide(client: client, scope: route, policy: policy)
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

extension RateLimitMiddleware where Context: RemoteAddressRequestContext {
    /// Creates the middleware with the throttles of a policy table, identifying each client by
    /// its connection (see ``ClientIdentity``).
    /// - Parameters:
    ///   - limiter: the limiter.
    ///   - policies: the table; a route's ``CachePolicy/throttle`` is its limit.
    ///   - clientIdentity: which proxies may name the client; by default none, so the peer
    ///     address is the client and `X-Forwarded-For` is ignored.
    public init(limiter: RateLimiter<Store, C>, policies: PolicyTable, clientIdentity: ClientIdentity = ClientIdentity()) {
        self.init(limiter: limiter, policies: policies, identify: Self.identify(with: clientIdentity))
    }

    /// Creates the middleware with limits by route name, identifying each client by its
    /// connection (see ``init(limiter:policies:clientIdentity:)``).
    public init(limiter: RateLimiter<Store, C>, routes: [String: ThrottlePolicy], clientIdentity: ClientIdentity = ClientIdentity()) {
        self.init(limiter: limiter, routes: routes, identify: Self.identify(with: clientIdentity))
    }

    /// The identity function of a ``ClientIdentity``: the request's peer address, or the client a
    /// trusted proxy names.
    public static func identify(with identity: ClientIdentity) -> Identify {
        { request, context in identity.client(peer: context.remoteAddress, headers: request.headers) }
    }
}
