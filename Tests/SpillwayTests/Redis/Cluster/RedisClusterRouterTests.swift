import NIOCore
import Spillway
@testable import SpillwayRedis
import Testing

/// The cluster client's routing and refresh decisions, driven as a pure state machine: no
/// sockets, no clock (instants are made up).
@Suite("Redis Cluster router")
struct RedisClusterRouterTests {
    let a = RedisClusterNodeAddress(host: "10.0.0.1", port: 7000)
    let b = RedisClusterNodeAddress(host: "10.0.0.2", port: 7000)
    let c = RedisClusterNodeAddress(host: "10.0.0.3", port: 7000)
    let t0 = ContinuousClock.now

    func threeMasters() -> RedisClusterTopology {
        var topology = RedisClusterTopology()
        topology.assign(0...5460, to: a)
        topology.assign(5461...10922, to: b)
        topology.assign(10923...16383, to: c)
        return topology
    }

    @Test("the first request refreshes from the seeds; then the map routes")
    func initial() {
        var router = RedisClusterRouter(seeds: [a, b], minInterval: .milliseconds(500))
        #expect(router.route(slot: 0) == nil)
        #expect(router.requestRefresh(.initial, now: t0, jitter: .zero) == .refresh(candidates: [a, b], reason: .initial))
        router.refreshSucceeded(threeMasters(), now: t0)
        #expect(router.route(slot: 0) == a)
        #expect(router.route(slot: 5461) == b)
        #expect(router.route(slot: 16383) == c)
        #expect(router.stats.refreshes == 1)
    }

    @Test("one refresh in flight: others are coalesced")
    func singleFlight() {
        var router = RedisClusterRouter(seeds: [a], minInterval: .zero)
        guard case .refresh = router.requestRefresh(.initial, now: t0, jitter: .zero) else { Issue.record("no refresh"); return }
        for _ in 0..<10 { #expect(router.requestRefresh(.moved, now: t0 + .seconds(5), jitter: .zero) == .none) }
        #expect(router.stats.refreshesCoalesced == 10)
        router.refreshFailed(now: t0)
        #expect(router.stats.refreshFailures == 1)
        guard case .refresh = router.requestRefresh(.moved, now: t0 + .seconds(5), jitter: .zero) else { Issue.record("no refresh after the failure"); return }
        #expect(router.stats.refreshes == 2)
    }

    @Test("refreshes are at least the minimum interval plus jitter apart; force ignores the interval")
    func minimumInterval() {
        var router = RedisClusterRouter(seeds: [a], minInterval: .milliseconds(500))
        _ = router.requestRefresh(.initial, now: t0, jitter: .milliseconds(50))
        router.refreshSucceeded(threeMasters(), now: t0 + .milliseconds(10))
        #expect(router.requestRefresh(.moved, now: t0 + .milliseconds(549), jitter: .zero) == .none)
        #expect(router.stats.refreshesThrottled == 1)
        guard case .refresh(_, .moved) = router.requestRefresh(.moved, now: t0 + .milliseconds(550), jitter: .zero) else {
            Issue.record("no refresh after the interval")
            return
        }
        router.refreshSucceeded(threeMasters(), now: t0 + .milliseconds(560))
        guard case .refresh = router.requestRefresh(.initial, now: t0 + .milliseconds(561), jitter: .zero, force: true) else {
            Issue.record("force must refresh")
            return
        }
        #expect(router.stats.refreshes == 3)
    }

    @Test("a throttled request is run once the interval has passed (trailing refresh), once")
    func trailingRefresh() {
        var router = RedisClusterRouter(seeds: [a], minInterval: .milliseconds(500))
        _ = router.requestRefresh(.initial, now: t0, jitter: .zero)
        router.refreshSucceeded(threeMasters(), now: t0 + .milliseconds(5))
        #expect(router.moved(slot: 1, to: b, now: t0 + .milliseconds(100), jitter: .zero) == .none)
        #expect(router.moved(slot: 2, to: b, now: t0 + .milliseconds(200), jitter: .zero) == .none)
        #expect(router.pending == .moved)
        #expect(router.pendingRefreshDue(now: t0 + .milliseconds(499), jitter: .zero) == .none)
        guard case .refresh(_, .moved) = router.pendingRefreshDue(now: t0 + .milliseconds(500), jitter: .zero) else {
            Issue.record("the throttled MOVED must refresh after the interval")
            return
        }
        #expect(router.pending == nil)
        router.refreshSucceeded(threeMasters(), now: t0 + .milliseconds(510))
        #expect(router.pendingRefreshDue(now: t0 + .seconds(5), jitter: .zero) == .none, "nothing pending any more")
        #expect(router.stats.refreshes == 2)
    }

    @Test("a storm of MOVED replies patches slots and starts one refresh per interval")
    func movedStorm() {
        var router = RedisClusterRouter(seeds: [a], minInterval: .milliseconds(500))
        _ = router.requestRefresh(.initial, now: t0, jitter: .zero)
        router.refreshSucceeded(threeMasters(), now: t0)
        var refreshes = 0
        // 1,000 MOVED replies over 2 s (one every 2 ms), each refresh taking 20 ms.
        var inFlightUntil: ContinuousClock.Instant?
        for i in 0..<1000 {
            let now = t0 + .milliseconds(2 * i)
            if let until = inFlightUntil, now >= until {
                router.refreshSucceeded(router.topology!, now: now)
                inFlightUntil = nil
            }
            if case .refresh = router.moved(slot: i, to: b, now: now, jitter: .milliseconds(i % 100)) {
                refreshes += 1
                inFlightUntil = now + .milliseconds(20)
            }
        }
        #expect(router.route(slot: 999) == b, "the redirections patched the map")
        #expect(router.route(slot: 1000) == a)
        #expect(router.stats.moved == 1000)
        #expect(refreshes >= 3 && refreshes <= 5, "about one refresh per 500 ms over 2 s: \(refreshes)")
    }

    @Test("failed nodes are asked last; a refresh that lists them again clears them")
    func unreachableLast() {
        var router = RedisClusterRouter(seeds: [a, b], minInterval: .zero)
        _ = router.requestRefresh(.initial, now: t0, jitter: .zero)
        router.refreshSucceeded(threeMasters(), now: t0)
        guard case .refresh(let candidates, .connectionFailed) = router.connectionFailed(a, now: t0 + .seconds(1), jitter: .zero) else {
            Issue.record("a failed connection must refresh")
            return
        }
        #expect(candidates == [b, c, a])
        var failedOver = RedisClusterTopology()
        let replica = RedisClusterNodeAddress(host: "10.0.0.4", port: 7000)
        failedOver.assign(0...5460, to: replica)
        failedOver.assign(5461...10922, to: b)
        failedOver.assign(10923...16383, to: c)
        router.refreshSucceeded(failedOver, now: t0 + .seconds(1))
        #expect(router.route(slot: 0) == replica)
        guard case .refresh(let next, _) = router.requestRefresh(.periodic, now: t0 + .seconds(2), jitter: .zero) else {
            Issue.record("periodic refresh")
            return
        }
        #expect(next == [replica, b, c, a], "the dead old master is still asked last while it is not a master again")
    }

    @Test("ASK does not change the map")
    func askKeepsMap() {
        var router = RedisClusterRouter(seeds: [a], minInterval: .zero)
        _ = router.requestRefresh(.initial, now: t0, jitter: .zero)
        router.refreshSucceeded(threeMasters(), now: t0)
        router.asked()
        #expect(router.route(slot: 1) == a)
        #expect(router.stats.asked == 1)
    }

    @Test("redirections, refusals and connection failures are told apart")
    func failureClassification() {
        #expect(RedisClusterFailure(CacheError.redisReply("MOVED 3999 127.0.0.1:6381")) == .moved(slot: 3999, RedisClusterNodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(RedisClusterFailure(CacheError.redisReply("ASK 3999 [::1]:6381")) == .ask(slot: 3999, RedisClusterNodeAddress(host: "::1", port: 6381)))
        #expect(RedisClusterFailure(CacheError.redisReply("TRYAGAIN Multiple keys request during rehashing of slot")) == .transient(clusterDown: false))
        #expect(RedisClusterFailure(CacheError.redisReply("CLUSTERDOWN The cluster is down")) == .transient(clusterDown: true))
        #expect(RedisClusterFailure(CacheError.redisReply("LOADING Redis is loading the dataset in memory")) == .transient(clusterDown: false))
        #expect(RedisClusterFailure(CacheError.redisReply("MASTERDOWN Link with MASTER is down")) == .transient(clusterDown: false))
        #expect(RedisClusterFailure(CacheError.redisReply("READONLY You can't write against a read only replica.")) == .readOnly)
        #expect(RedisClusterFailure(CacheError.redisReply("MOVED nonsense")) == .other)
        #expect(RedisClusterFailure(CacheError.redisReply("OOM command not allowed")) == .other)
        #expect(RedisClusterFailure(CacheError(.connection, "connection closed by the server or the network")) == .lost)
        let crossSlot = CacheError.redisReply("CROSSSLOT Keys in request don't hash to the same slot")
        #expect(crossSlot.code == .invalidArgument)
        #expect(RedisClusterFailure(crossSlot) == .other)
        #expect(CacheError.redisReply("TRYAGAIN x").code == .busy)
        #expect(CacheError.redisReply("CLUSTERDOWN x").code == .busy)
    }
}
