import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Spillway
import SpillwayHummingbird
import SpillwayTesting
import Testing

/// A request context that carries the connection's peer address, as a production app's should.
struct PeerAddressContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

@Suite("SpillwayHummingbird: who the client is")
struct ClientIdentityTests {
    static let xff = ClientIdentity.forwardedFor

    static func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test("without trusted proxies the peer is the client, whatever X-Forwarded-For says")
    func peerWins() {
        let identity = ClientIdentity()
        #expect(identity.client(peerIP: Self.ip("198.51.100.9"), forwardedFor: ["203.0.113.1"]) == Self.ip("198.51.100.9"))
        #expect(identity.client(peerIP: Self.ip("198.51.100.9"), forwardedFor: []) == Self.ip("198.51.100.9"))
    }

    @Test("behind trusted proxies, the rightmost untrusted hop is the client")
    func rightmostUntrusted() throws {
        let identity = try ClientIdentity(trustedProxies: ["10.0.0.0/8", "2001:db8::/32"])
        let proxy = Self.ip("10.1.2.3")
        // The client forged "1.1.1.1"; the edge proxy appended what it saw (203.0.113.7), an inner
        // proxy appended the edge (10.9.9.9).
        #expect(identity.client(peerIP: proxy, forwardedFor: ["1.1.1.1, 203.0.113.7, 10.9.9.9"]) == Self.ip("203.0.113.7"))
        // Several header lines are one list, in order.
        #expect(identity.client(peerIP: proxy, forwardedFor: ["1.1.1.1", "203.0.113.7", "10.9.9.9"]) == Self.ip("203.0.113.7"))
        // Ports and brackets, as some proxies write them.
        #expect(identity.client(peerIP: proxy, forwardedFor: ["203.0.113.7:4711"]) == Self.ip("203.0.113.7"))
        #expect(identity.client(peerIP: proxy, forwardedFor: ["[2001:db9::5]:443"]) == Self.ip("2001:db9::5"))
        // Every hop trusted: the leftmost.
        #expect(identity.client(peerIP: proxy, forwardedFor: ["10.0.0.5, 10.0.0.6"]) == Self.ip("10.0.0.5"))
        // Garbage stops the walk at the last trusted address: it never picks an identity.
        #expect(identity.client(peerIP: proxy, forwardedFor: ["203.0.113.7, unknown, 10.0.0.6"]) == Self.ip("10.0.0.6"))
        #expect(identity.client(peerIP: proxy, forwardedFor: ["not-an-address"]) == proxy)
        // No header: the proxy itself.
        #expect(identity.client(peerIP: proxy, forwardedFor: []) == proxy)
    }

    @Test("IPv4-mapped IPv6 peers are their IPv4 address, for identity and for trust")
    func mapped() throws {
        let identity = try ClientIdentity(trustedProxies: ["127.0.0.1"])
        let mapped = try #require(IPAddress("::ffff:127.0.0.1"))
        #expect(mapped == Self.ip("127.0.0.1"))
        #expect(identity.client(peerIP: mapped, forwardedFor: ["192.0.2.44"]) == Self.ip("192.0.2.44"))
        #expect(identity.client(peer: try SocketAddress(ipAddress: "::ffff:192.0.2.8", port: 1), headers: [:]) == "192.0.2.8")
    }

    @Test("networks parse strictly and match by prefix")
    func networks() throws {
        let net = try IPNetwork("192.168.16.0/20")
        #expect(net.description == "192.168.16.0/20")
        #expect(net.contains(Self.ip("192.168.31.255")))
        #expect(!net.contains(Self.ip("192.168.32.0")))
        #expect(!net.contains(Self.ip("::1")))
        #expect(try IPNetwork("10.1.2.3/8").address == Self.ip("10.0.0.0"))
        #expect(try IPNetwork("::/0").contains(Self.ip("2001:db8::1")))
        #expect(try IPNetwork("2001:db8::1").prefixLength == 128)
        for bad in ["", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", "10.0.0.0/8/8", "example.com", "10.0.0.0/ 8", "300.1.1.1"] {
            #expect(throws: IPNetwork.ParseError.self, "\(bad)") { try IPNetwork(bad) }
        }
    }

    @Test("a live app: 50 logins from one connection with a new X-Forwarded-For each time are limited as one client")
    func rotatingForwardedFor() async throws {
        let clock = ManualClock()
        let cache = GuardedCache(client: MemoryCache(clock: clock)) { KeyGuard() }
        let limiter = RateLimiter(store: cache, clock: clock)
        let router = Router(context: PeerAddressContext.self)
        router.add(middleware: RateLimitMiddleware(limiter: limiter, routes: ["POST /login": ThrottlePolicy(limit: 10, period: .seconds(60))]))
        router.post("login") { _, _ in "welcome" }
        try await Application(router: router).test(.live) { client in
            var statuses: [Int: Int] = [:]
            for i in 0..<50 {
                let response = try await client.execute(uri: "/login", method: .post, headers: [Self.xff: "198.18.\(i / 250).\(i % 250)"])
                statuses[response.status.code, default: 0] += 1
            }
            #expect(statuses == [200: 10, 429: 40], "\(statuses)")
            #expect(limiter.stats.counts.allowed == 10)
            #expect(limiter.stats.counts.denied == 40)
        }
    }

    @Test("a live app behind a trusted proxy: clients are told apart by the hop the proxy appended, forged hops are ignored")
    func trustedProxy() async throws {
        let clock = ManualClock()
        let cache = GuardedCache(client: MemoryCache(clock: clock)) { KeyGuard() }
        let limiter = RateLimiter(store: cache, clock: clock)
        let router = Router(context: PeerAddressContext.self)
        let identity = try ClientIdentity(trustedProxies: ["127.0.0.0/8", "::1"])
        router.add(
            middleware: RateLimitMiddleware(limiter: limiter, routes: ["POST /login": ThrottlePolicy(limit: 5, period: .seconds(60))], clientIdentity: identity)
        )
        router.post("login") { _, _ in "welcome" }
        try await Application(router: router).test(.live) { client in
            // The attacker rotates a forged first hop; the proxy (the test client, on loopback)
            // appends the attacker's real address each time.
            var attacker: [Int: Int] = [:]
            for i in 0..<20 {
                let response = try await client.execute(uri: "/login", method: .post, headers: [Self.xff: "203.0.113.\(i), 198.51.100.66"])
                attacker[response.status.code, default: 0] += 1
            }
            #expect(attacker == [200: 5, 429: 15], "\(attacker)")
            // The victim whose address the attacker forged is not locked out.
            let victim = try await client.execute(uri: "/login", method: .post, headers: [Self.xff: "203.0.113.1"])
            #expect(victim.status == .ok)
            #expect(victim.headers[RateLimitHeaders.remaining] == "4")
        }
    }

    @Test("a request with no identity is limited in one shared bucket, not let through unlimited")
    func unidentified() async throws {
        let clock = ManualClock()
        let cache = GuardedCache(client: MemoryCache(clock: clock)) { KeyGuard() }
        let limiter = RateLimiter(store: cache, clock: clock)
        let router = Router()
        router.add(
            middleware: RateLimitMiddleware(limiter: limiter, routes: ["GET /x": ThrottlePolicy(limit: 2, period: .seconds(60))], identify: { _, _ in nil })
        )
        router.get("x") { _, _ in "x" }
        try await Application(router: router).test(.router) { client in
            let codes = try await (0..<3).asyncMap { _ in try await client.execute(uri: "/x", method: .get).status.code }
            #expect(codes == [200, 200, 429])
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
