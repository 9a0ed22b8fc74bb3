import Hummingbird
import Spillway
import SpillwayHummingbird
import SpillwayRedis
import SpillwayTesting
import Testing

/// The persist driver and the limiter over it, against a real `redis-server` (started once for
/// the suite's one test, on 127.0.0.1 and a free port; the suite fails if it cannot start): a
/// set that Redis refuses with `-OOM` is reported as dropped and leaves no stale value, keep-TTL
/// cannot bypass `requireTTL`, and two processes with different start times agree on a limit.
@Suite("SpillwayHummingbird: the persist driver over a real redis-server")
struct PersistDriverRedisTests {
    static let start: Int64 = 1_800_000_000_000_000_000

    @Test("dropped sets are reported, no stale value is read, requireTTL holds, processes agree on a limit")
    func overRealRedis() async throws {
        try await RedisServer.withRedisServer { server in
            let redis = try server.makeClient { $0.maxConnections = 1 }
            do {
                try await Self.checks(redis, server)
                await redis.close()
            } catch {
                await redis.close()
                throw error
            }
        }
    }

    static func checks(_ redis: RedisClient, _ server: RedisServer) async throws {
        // 1. A set that Redis refuses at maxmemory is reported, and the old session is gone.
        let cache = GuardedCache(client: redis, policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
            KeyGuard()
            Degrade<ContinuousClock>()
        }
        let persist = SpillwayPersistDriver(cache: cache)
        try await persist.set(key: "kept", value: "before", expires: .seconds(300))
        try await persist.set(key: "session", value: "visits=1", expires: .seconds(300))
        _ = try await redis.send("CONFIG", "SET", "maxmemory", 1)
        let outcome = try await persist.setReportingOutcome(key: "session", value: "visits=2", expires: .seconds(300))
        #expect(outcome == .dropped(.outOfMemory))
        #expect(try await persist.get(key: "session", as: String.self) == nil, "the old session is not read back after a dropped update")
        await #expect(throws: CacheError.self) { try await persist.set(key: "other", value: "x", expires: .seconds(300)) }
        #expect(try await persist.get(key: "kept", as: String.self) == "before", "reads keep flowing at maxmemory")
        _ = try await redis.send("CONFIG", "SET", "maxmemory", server.options.maxMemory)

        // 2. requireTTL: set(expires: nil) takes the keep-TTL path and is refused; nothing reaches Redis.
        let strict = SpillwayPersistDriver(
            cache: GuardedCache(client: redis, policies: PolicyTable(defaults: CachePolicy(requireTTL: true))) { LimitsGuard() }
        )
        await #expect(throws: CacheError.self) { try await strict.set(key: "session:2", value: "v", expires: nil) }
        #expect(try await redis.send("EXISTS", "session:2").int64 == 0)

        // 3. Two processes started ten minutes apart, sharing the Redis behind a persist
        //    driver, agree on one client's limit: their times are wall-clock epoch times.
        let shared = SpillwayPersistDriver(cache: GuardedCache(client: redis) { KeyGuard() })
        let limit = GCRAParameters(limit: 1, period: .seconds(60), burst: 1)
        let clockB = ManualClock()
        let b = GuardedCache(client: PersistDriverClient(shared, clock: clockB, epochNanoseconds: Self.start)) { LimitsGuard() }
        clockB.advance(by: .seconds(600))
        let clockA = ManualClock()
        let a = GuardedCache(client: PersistDriverClient(shared, clock: clockA, epochNanoseconds: Self.start + 600 * 1_000_000_000)) {
            LimitsGuard()
        }
        #expect(try await a.throttle("rl:login:ada", limit).allowed)
        let second = try await b.throttle("rl:login:ada", limit)
        #expect(second.allowed == false, "the same client at the same wall time in another process is over the limit")
        clockB.advance(by: .seconds(60))
        #expect(try await b.throttle("rl:login:ada", limit).allowed, "a minute later it passes")
    }
}
