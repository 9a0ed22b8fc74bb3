import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting

/// The soak's one route and its rate limit.
enum SoakRoute {
    static let route = "POST /orders/upload"
    /// Generous: the soak is about cache failures, not about clients over their limit.
    static let throttle = ThrottlePolicy(limit: 1_000_000, period: .seconds(1), onCacheFailure: .local, localShare: 0.5)
}

/// The request mix and its verification, spilling to `Store`.
struct SoakWorkload<Store: BlobStore>: Sendable {
    let rate: Int
    let keys: Int
    let spillPercent: Int
    let seed: UInt64
    /// The TTL of spilled values: longer than the run and its sweeps.
    let spilledTTL: Duration
    let cache: GuardedCache<RedisClient, _CacheMiddleware2<_CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, ValueSpill<Store>>, Degrade<ContinuousClock>>>
    let limiter: RateLimiter<GuardedCache<RedisClient, _CacheMiddleware2<_CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, ValueSpill<Store>>, Degrade<ContinuousClock>>>, ContinuousClock>
    let ticket = SoakTicket()

    /// Sends requests on the shared schedule until `end`.
    func worker(start: ContinuousClock.Instant, end: ContinuousClock.Instant) async -> SoakCounts {
        var counts = SoakCounts()
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        while true {
            let i = ticket.next()
            let due = start.advanced(by: interval * i)
            // Open loop: stop at the deadline even when behind schedule (the rate achieved is
            // then below the target, and the report says so).
            if due >= end || clock.now >= end { break }
            if clock.now < due { try? await clock.sleep(until: due) }
            await request(i, &counts)
        }
        return counts
    }

    /// One request: a rate-limit decision, then one cache operation.
    func request(_ i: Int, _ counts: inout SoakCounts) async {
        var random = SplitMix64(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        counts.requests += 1
        let decision = await limiter.decide(client: "client-\(random.next() % 500)", scope: SoakRoute.route, policy: SoakRoute.throttle)
        counts.limiter[decision.path.rawValue, default: 0] += 1

        let roll = Int(random.next() % 100)
        let key = CacheKey("soak:\(random.next() % UInt64(keys))")
        let op: String
        do {
            if roll < 50 {
                op = "get"
                if let value = try await cache.get(key, route: SoakRoute.route) {
                    if !Self.verify(value) { counts.wrongBytes += 1 }
                    counts.hits += 1
                }
            } else if roll < 50 + spillPercent {
                op = "set spilled"
                let bigKey = CacheKey("soak:big:\(random.next() % 2_000)")
                counts.record(try await cache.set(bigKey, value: Self.value(seed: random.next(), size: 16 * 1024), expiry: .after(spilledTTL), route: SoakRoute.route))
            } else if roll < 85 {
                op = "set small"
                counts.record(try await cache.set(key, value: Self.value(seed: random.next(), size: 256), expiry: .after(.seconds(120)), route: SoakRoute.route))
            } else if roll < 95 {
                // The incident's lock key: raw task input in the key (10 KB), SET NX with a TTL.
                op = "lock (10 KB key, NX)"
                let raw = "task-\(random.next() % 100_000)-" + String(repeating: "sale_orders=[…]", count: 680)
                counts.record(try await cache.set(CacheKey(raw), value: ByteBuffer(string: "1"), expiry: .after(.seconds(10)), condition: .ifNotExists, route: SoakRoute.route))
            } else {
                op = "delete"
                try await cache.delete(key, route: SoakRoute.route)
            }
            counts.operations[op, default: 0] += 1
        } catch {
            let name = roll < 50 ? "get" : roll < 50 + spillPercent ? "set spilled" : roll < 85 ? "set small" : roll < 95 ? "lock (10 KB key, NX)" : "delete"
            counts.operations[name, default: 0] += 1
            counts.errors["\(name): \(error.code)", default: 0] += 1
        }
    }

    /// A self-verifying value: a 16-byte header (magic, length, seed), then the seed repeated.
    static func value(seed: UInt64, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        buffer.writeInteger(UInt32(0x534F_414B))  // "SOAK"
        buffer.writeInteger(UInt32(size))
        buffer.writeInteger(seed)
        while buffer.writerIndex + 8 <= size { buffer.writeInteger(seed) }
        while buffer.writerIndex < size { buffer.writeInteger(UInt8(truncatingIfNeeded: seed)) }
        return buffer
    }

    /// Whether a value read back is exactly one that ``value(seed:size:)`` wrote.
    static func verify(_ value: ByteBuffer) -> Bool {
        var v = value
        guard v.readInteger(as: UInt32.self) == 0x534F_414B, let size = v.readInteger(as: UInt32.self),
            Int(size) == value.readableBytes, let seed = v.readInteger(as: UInt64.self)
        else { return false }
        while v.readableBytes >= 8 {
            guard v.readInteger(as: UInt64.self) == seed else { return false }
        }
        while let byte = v.readInteger(as: UInt8.self) {
            guard byte == UInt8(truncatingIfNeeded: seed) else { return false }
        }
        return true
    }
}
