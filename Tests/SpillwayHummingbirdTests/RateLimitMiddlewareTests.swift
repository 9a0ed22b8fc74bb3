import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Spillway
import SpillwayHummingbird
import SpillwayTesting
import Synchronization
import Testing

/// A test double: forwards to a client, except that while `refuseWrites` is on every write
/// answers Redis's OOM error.
final class OOMSwitch<Base: CacheClient>: CacheClient {
    let base: Base
    private let refuse: Mutex<Bool>

    init(_ base: Base, refuseWrites: Bool) {
        self.base = base
        self.refuse = Mutex(refuseWrites)
    }

    func setRefusing(_ value: Bool) { refuse.withLock { $0 = value } }

    var capabilities: CacheCapabilities { base.capabilities }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { try await base.memoryStats() }
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        if operation.isWrite, refuse.withLock({ $0 }) { throw CacheError(.outOfMemory, CacheError.redisOOMMessage) }
        return try await base.execute(operation)
    }
}

@Suite("SpillwayHummingbird: rate limiting a real Hummingbird app")
struct RateLimitMiddlewareTests {
    static func throttle(_ mode: ThrottleFailureMode) -> ThrottlePolicy {
        ThrottlePolicy(limit: 10, period: .seconds(60), onCacheFailure: mode, localShare: 0.5)
    }

    static let table = PolicyTable(
        defaults: CachePolicy(onOOM: .shed),
        routes: [
            "GET /allow": PolicyOverrides(throttle: throttle(.allow)),
            "GET /deny": PolicyOverrides(throttle: throttle(.deny)),
            "GET /local/{id}": PolicyOverrides(throttle: throttle(.local)),
        ]
    )

    /// The test's client identity: a header only the test sets (this router-mode app has no peer
    /// address; a real app identifies by connection, see ClientIdentityTests).
    @Sendable static func testClient(_ request: Request, _ context: BasicRequestContext) -> String? {
        request.headers[HTTPField.Name("X-Test-Client")!]
    }

    @Test("10,000 requests while every cache write answers OOM: no 500, each route's failure mode holds, and recovery")
    func oomAcrossRoutes() async throws {
        let clock = ManualClock()
        let backend = OOMSwitch(MemoryCache(clock: clock), refuseWrites: true)
        let breaker = WriteBreaker(configuration: .init(threshold: 5, window: .seconds(10), openDuration: .seconds(5)), clock: clock)
        let cache = GuardedCache(client: backend, policies: Self.table) {
            KeyGuard()
            Degrade(breaker: breaker)
        }
        let limiter = RateLimiter(store: cache, clock: clock)

        let router = Router()
        router.add(middleware: RateLimitMiddleware(limiter: limiter, policies: Self.table, identify: Self.testClient))
        @Sendable func handler(_ request: Request, _ context: BasicRequestContext) async throws -> String {
            // The handler's own cache write degrades too (shed), and sees its route.
            let outcome = try await cache.set(CacheKey("page:\(request.uri.path)"), value: ByteBuffer(string: "body"))
            return "\(CacheRoute.current ?? "-") \(outcome == .stored ? "stored" : "dropped")"
        }
        router.get("allow", use: handler)
        router.get("deny", use: handler)
        router.get("local/{id}", use: handler)
        let app = Application(router: router)

        try await app.test(.router) { client in
            var statuses: [String: [Int: Int]] = [:]
            var localAllowedByClient: [String: Int] = [:]
            for i in 0..<10_000 {
                let who = "10.0.0.\(i % 10)"
                let path = ["/allow", "/deny", "/local/\(i % 7)"][i % 3]
                let response = try await client.execute(uri: path, method: .get, headers: [.init("X-Test-Client")!: who])
                let route = String(path.split(separator: "/").first ?? "")
                statuses[route, default: [:]][response.status.code, default: 0] += 1
                switch route {
                case "allow":
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "GET /allow dropped")
                case "deny":
                    #expect(response.status == .tooManyRequests)
                    let retry = try #require(response.headers[RateLimitHeaders.retryAfter])
                    #expect(Int(retry) ?? 0 >= 1)
                default:
                    if response.status == .ok {
                        localAllowedByClient[who, default: 0] += 1
                        #expect(response.headers[RateLimitHeaders.limit] == "5")
                    } else {
                        #expect(response.status == .tooManyRequests)
                        #expect(response.headers[RateLimitHeaders.retryAfter] != nil)
                    }
                }
            }
            #expect(statuses.values.allSatisfy { $0[500] == nil }, "no request ever failed with 500: \(statuses)")
            #expect(statuses["allow"]?[200] == 3334)
            #expect(statuses["deny"]?[429] == 3333)
            // local: half of the burst of 10 per client, on a clock that does not move.
            #expect(localAllowedByClient.count == 10)
            #expect(localAllowedByClient.values.allSatisfy { $0 == 5 })
            #expect(statuses["local"]?[429] == 3333 - 50)
            let counts = limiter.stats.counts
            #expect(counts == RateLimitStats.Counts(degradedAllow: 3334, degradedDeny: 3333, degradedLocal: 3333))
            #expect(breaker.state == .open)

            // The OOM stops; once the breaker probes and closes, the shared cache decides again.
            backend.setRefusing(false)
            clock.advance(by: .seconds(5))
            let recovered = try await client.execute(uri: "/deny", method: .get, headers: [.init("X-Test-Client")!: "10.9.9.9"])
            #expect(recovered.status == .ok)
            #expect(String(buffer: recovered.body) == "GET /deny stored")
            #expect(recovered.headers[RateLimitHeaders.limit] == "10")
            #expect(recovered.headers[RateLimitHeaders.remaining] == "9")
            #expect(recovered.headers[RateLimitHeaders.reset] == "6")
            #expect(breaker.state == .closed)
            for _ in 0..<9 {
                #expect(try await client.execute(uri: "/deny", method: .get, headers: [.init("X-Test-Client")!: "10.9.9.9"]).status == .ok)
            }
            let limited = try await client.execute(uri: "/deny", method: .get, headers: [.init("X-Test-Client")!: "10.9.9.9"])
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[RateLimitHeaders.retryAfter] == "6")
            #expect(limiter.stats.counts.allowed == 10)
            #expect(limiter.stats.counts.denied == 1)
        }
    }

    @Test("routes without a limit pass untouched, with CacheRoute.current set")
    func unlimitedRoute() async throws {
        let limiter = RateLimiter(store: GuardedCache(client: MemoryCache(clock: ManualClock())) {}, clock: ManualClock())
        let router = Router()
        router.add(
            middleware: RateLimitMiddleware(limiter: limiter, routes: ["GET /limited": ThrottlePolicy(limit: 1, period: .seconds(60))], identify: Self.testClient)
        )
        router.get("open/{id}") { _, _ in CacheRoute.current ?? "-" }
        router.get("limited") { _, _ in "ok" }
        try await Application(router: router).test(.router) { client in
            for _ in 0..<5 {
                let response = try await client.execute(uri: "/open/1", method: .get)
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "GET /open/{id}")
                #expect(response.headers[RateLimitHeaders.limit] == nil)
            }
            #expect(try await client.execute(uri: "/limited", method: .get).status == .ok)
            let second = try await client.execute(uri: "/limited", method: .get)
            #expect(second.status == .tooManyRequests)
            #expect(second.headers[RateLimitHeaders.retryAfter] == "60")
        }
    }
}
