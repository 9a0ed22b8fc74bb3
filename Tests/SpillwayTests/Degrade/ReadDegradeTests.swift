import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Testing

/// Reads degrade too: a `get`, `mget` or `exists` that fails on the transport (connection,
/// timeout, busy) is a counted miss under the default `onReadFailure: miss`, the typed error
/// under `fail`; other failures always propagate.
@Suite("Degrade: a failed read is a counted miss")
struct ReadDegradeTests {
    static let transportFaults: [Fault] = [.connectionReset(), .loading, .busy, .error(.timeout, "command timed out")]

    static func cache(
        _ client: any CacheClient, _ faults: FaultInjector, policy: CachePolicy = CachePolicy(),
        fallback: FallbackStore<ManualClock>? = nil, metrics: SpillTestMetrics? = nil
    ) -> (GuardedCache<AnyCacheClient, _CacheMiddleware2<Degrade<ManualClock>, FaultInjector>>, DegradeStats) {
        let stats = DegradeStats()
        let cache = GuardedCache(client: AnyCacheClient(client), policies: PolicyTable(defaults: policy)) {
            Degrade<ManualClock>(fallback: fallback, stats: stats, metricsFactory: metrics)
            faults
        }
        return (cache, stats)
    }

    @Test("miss (the default): get, mget and exists answer a miss, each counted in stats and metrics", arguments: TestBackend.allCases)
    func missByDefault(backend: TestBackend) async throws {
        try await backend.withClient { (client: any CacheClient) async throws in
            for fault in Self.transportFaults {
                let faults = FaultInjector(seed: 1, clock: ManualClock())
                let metrics = SpillTestMetrics()
                let (cache, stats) = Self.cache(client, faults, metrics: metrics)
                #expect(try await cache.set("r:1", value: ByteBuffer(string: "one")) == .stored)
                faults.inject(fault, on: .reads)
                #expect(try await cache.get("r:1", route: "GET /r") == nil, "\(fault)")
                #expect(try await cache.mget(["r:1", "r:2"], route: "GET /r") == [nil, nil], "\(fault)")
                #expect(try await cache.exists("r:1", route: "GET /r") == false, "\(fault)")
                #expect(faults.injectedCount == 3, "the fault was in the path: \(fault)")
                #expect(stats.counts.readsDegraded == 3)
                #expect(stats.counts.failed == 0)
                #expect(metrics.total("spillway_reads_degraded_total") == 3)
                faults.removeAll()
                #expect(try await cache.get("r:1") == ByteBuffer(string: "one"), "the value was never touched")
            }
        }
    }

    @Test("fail: the typed error reaches the caller, nothing counted as degraded", arguments: TestBackend.allCases)
    func failPolicy(backend: TestBackend) async throws {
        try await backend.withClient { (client: any CacheClient) async throws in
            let faults = FaultInjector(seed: 1, clock: ManualClock())
            let (cache, stats) = Self.cache(client, faults, policy: CachePolicy(onReadFailure: .fail))
            faults.inject(.connectionReset(), on: .reads)
            do throws(CacheError) {
                _ = try await cache.get("r:1", route: "GET /r")
                Issue.record("a failed read was not thrown under onReadFailure: fail")
            } catch {
                #expect(error.code == .connection)
                #expect(error.route == "GET /r")
            }
            await #expect(throws: CacheError.self) { try await cache.mget(["r:1"]) }
            await #expect(throws: CacheError.self) { try await cache.exists("r:1") }
            #expect(stats.counts.readsDegraded == 0)
        }
    }

    @Test("a failure that is not a transport one (a wrong type, corruption) always propagates", arguments: TestBackend.allCases)
    func otherFailuresPropagate(backend: TestBackend) async throws {
        try await backend.withClient { (client: any CacheClient) async throws in
            let faults = FaultInjector(seed: 1, clock: ManualClock())
            let (cache, stats) = Self.cache(client, faults)
            faults.inject(.error(.other, "WRONGTYPE Operation against a key holding the wrong kind of value"), on: .reads)
            await #expect(throws: CacheError.self) { try await cache.get("r:1") }
            faults.removeAll()
            faults.inject(.error(.corruption, "bad bytes"), on: .reads)
            await #expect(throws: CacheError.self) { try await cache.get("r:1") }
            #expect(stats.counts.readsDegraded == 0)
        }
    }

    @Test("with a fallback store: local values answer, the other keys of an mget are counted misses", arguments: TestBackend.allCases)
    func fallbackAndMiss(backend: TestBackend) async throws {
        try await backend.withClient { (client: any CacheClient) async throws in
            let faults = FaultInjector(seed: 1, clock: ManualClock())
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let (cache, stats) = Self.cache(client, faults, policy: CachePolicy(onOOM: .fallback), fallback: store)
            faults.inject(.outOfMemory, on: .writes)
            #expect(try await cache.set("r:local", value: ByteBuffer(string: "kept")) == .storedLocally(.outOfMemory))
            faults.removeAll()
            faults.inject(.connectionReset(), on: .reads)
            #expect(try await cache.get("r:local") == ByteBuffer(string: "kept"))
            #expect(try await cache.get("r:absent") == nil)
            #expect(try await cache.mget(["r:local", "r:absent"]) == [ByteBuffer(string: "kept"), nil])
            #expect(try await cache.exists("r:absent") == false)
            #expect(stats.counts.readsDegraded == 3)
        }
    }

    @Test("a real redis-server that is stopped: reads are counted misses, writes are shed")
    func stoppedServer() async throws {
        try await RedisServer.withRedisServer { server in
            let client = try server.makeClient {
                $0.connectTimeout = .milliseconds(200)
                $0.commandTimeout = .milliseconds(500)
                $0.initialBackoff = .milliseconds(1)
                $0.maxBackoff = .milliseconds(10)
            }
            let stats = DegradeStats()
            let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(onFailure: [.connection: .shed, .timeout: .shed]))) {
                Degrade<ManualClock>(stats: stats)
            }
            #expect(try await cache.set("r:1", value: ByteBuffer(string: "one")) == .stored)
            await server.stop()
            let value = try await cache.get("r:1")
            #expect(value == nil)
            #expect(try await cache.mget(["r:1", "r:2"]) == [nil, nil])
            #expect(try await cache.exists("r:1") == false)
            #expect(stats.counts.readsDegraded == 3)
            try await server.restart()
            // The server is back: the client reconnects, and reads are real again.
            #expect(try await cache.set("r:1", value: ByteBuffer(string: "again")) == .stored)
            #expect(try await cache.get("r:1") == ByteBuffer(string: "again"))
            await client.close()
        }
    }
}
