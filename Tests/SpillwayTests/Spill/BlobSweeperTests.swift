import NIOCore
import Spillway
import SpillwayRedis
import SpillwayTesting
import Synchronization
import Testing

@Suite("BlobSweeper")
struct BlobSweeperTests {
    /// The workload: 400 keys of 4 KB spilled values into a cache that holds about 80 of them
    /// under `allkeys-lru`, sweeping every 40 writes.
    static let valueSize = 4096
    static let writes = 400
    static let sweepEvery = 40

    /// The stated bound: between two sweeps, orphaned blob bytes are exactly the blobs of the keys
    /// lost since the last sweep; under exact LRU with equal-size values that is at most one
    /// evicted key per write, plus two for a hash-table resize, and right after a sweep zero.
    static let orphanBound = (sweepEvery + 2) * valueSize

    @Test("the sweeper reclaims blobs orphaned by allkeys-lru eviction, keeping orphaned bytes under the stated bound", arguments: TestBackend.allCases)
    func orphansAfterEviction(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 12 * 1024, policy: .allKeysLRU) { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = ValueSpillTests.cache(client, store, policies: spillPolicies(threshold: 1024))
            let sweeper = BlobSweeper(store: store, client: client, batchSize: 16, minimumAge: .zero, clock: ManualClock(), metricsFactory: metrics)
            var maxOrphanBytes = 0
            var reclaimed = 0
            var keys: [CacheKey] = []
            var liveAfterSweep = 0
            for i in 0..<Self.writes {
                let key = CacheKey("lru:\(i)")
                keys.append(key)
                try await cache.set(key, value: spillBytes(Self.valueSize, seed: UInt8(i % 251)))
                if (i + 1) % Self.sweepEvery == 0 {
                    // Redis evicts before *any* command once over maxmemory, reads included, and
                    // a large MGET reply grows its memory: eviction is paused while the test
                    // counts and sweeps, so that the counts compare the same keyspace.
                    try await Self.pauseEviction(base, true)
                    let (orphans, live) = try await Self.orphanBytes(client, store, keys)
                    maxOrphanBytes = max(maxOrphanBytes, orphans)
                    // Exact accounting: every key lost since the last pass left exactly one blob.
                    #expect(orphans == (liveAfterSweep + Self.sweepEvery - live) * Self.valueSize)
                    if backend == .memory {
                        // The stated bound (exact LRU, deterministic accounting).
                        #expect(orphans <= Self.orphanBound, "orphaned \(orphans) bytes before sweep \(i / Self.sweepEvery)")
                    }
                    let report = try await sweeper.sweepOnce()
                    #expect(report.bytesReclaimed == orphans)
                    #expect(report.batches >= 1)
                    reclaimed += report.bytesReclaimed
                    let (after, liveNow) = try await Self.orphanBytes(client, store, keys)
                    #expect(after == 0, "a sweep leaves no orphan")
                    liveAfterSweep = liveNow
                    try await Self.pauseEviction(base, false)
                }
            }
            #expect(reclaimed > Self.writes / 2 * Self.valueSize, "most keys were evicted and their blobs reclaimed")
            #expect(maxOrphanBytes > 0)
            #expect(metrics.total("spillway_blobs_swept_total") == Int64(reclaimed / Self.valueSize))
            // Every key still present reads back its own value.
            for (i, key) in keys.enumerated() {
                if let value = try await cache.get(key) { #expect(value == spillBytes(Self.valueSize, seed: UInt8(i % 251))) }
            }
        }
    }

    @Test("blobs whose key was overwritten by a foreign client, or never written, are reclaimed; young blobs are kept", arguments: TestBackend.allCases)
    func foreignOverwriteAndMinimumAge(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let clock = ManualClock()
            let blobClock = BlobClock(clock: clock, origin: spillOrigin)
            let store = MemoryBlobStore()
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 100)) {
                KeyGuard()
                ValueSpill(store: store, clock: blobClock)
            }
            try await cache.set("sw:a", value: spillBytes(1000))
            try await cache.set("sw:b", value: spillBytes(1000))
            _ = try await client.execute(.set("sw:a", ByteBuffer(string: "foreign"), SetOptions()))
            let stray = try await store.put(spillBytes(300), metadata: BlobMetadata(createdAt: spillOrigin, ownerKey: "sw:never"))
            let sweeper = BlobSweeper(store: store, client: client, batchSize: 1, minimumAge: .seconds(60), clock: clock, blobClock: blobClock)
            let young = try await sweeper.sweepOnce()
            #expect(young.tooYoung == 3)
            #expect(young.deleted == 0)
            #expect(young.batches >= 3, "batches of one")
            clock.advance(by: .seconds(61))
            let report = try await sweeper.sweepOnce()
            #expect(report.orphaned == 2)
            #expect(report.bytesReclaimed == 1300)
            #expect(await store.count == 1)
            #expect(await store.metadata(of: stray) == nil)
            #expect(try await cache.get("sw:b") == spillBytes(1000))
            #expect(try await cache.get("sw:a") == ByteBuffer(string: "foreign"))
        }
    }

    @Test("run() sweeps on the injected clock, reports, and stops when cancelled")
    func runAsService() async throws {
        let clock = ManualClock()
        let client = SpillTestClient(MemoryCache(clock: clock))
        let store = MemoryBlobStore()
        _ = try await store.put(spillBytes(700), metadata: BlobMetadata(createdAt: spillOrigin, ownerKey: "svc:gone"))
        let reports = Mutex<[SweepReport]>([])
        let finished = Mutex(false)
        let sweeper = BlobSweeper(
            store: store, client: client, interval: .seconds(30), minimumAge: .zero, clock: clock,
            blobClock: BlobClock(clock: clock, origin: spillOrigin), onReport: { r in reports.withLock { $0.append(r) } }
        )
        let task = Task {
            defer { finished.withLock { $0 = true } }
            try? await sweeper.run()
        }
        var spins = 0
        while reports.withLock({ $0.isEmpty }) && spins < 100_000 {
            clock.advance(by: .seconds(30))
            await Task.yield()
            spins += 1
        }
        let first = try #require(reports.withLock { $0.first })
        #expect(first.orphaned == 1)
        #expect(first.bytesReclaimed == 700)
        #expect(await store.count == 0)
        task.cancel()
        spins = 0
        while !finished.withLock({ $0 }) && spins < 100_000 {
            clock.advance(by: .seconds(30))
            await Task.yield()
            spins += 1
        }
        #expect(finished.withLock { $0 }, "run() returned after cancellation")
    }

    /// Bytes of blobs that no live key points at, and the number of keys holding a pointer.
    /// On Redis, switches eviction off (`noeviction`) or back to `allkeys-lru`; a no-op on
    /// `MemoryCache`, which evicts only on writes.
    static func pauseEviction(_ base: any CacheClient, _ paused: Bool) async throws {
        guard let redis = base as? RedisClient else { return }
        let reply = try await redis.send("CONFIG", "SET", "maxmemory-policy", paused ? "noeviction" : "allkeys-lru")
        #expect(reply.errorMessage == nil)
    }

    static func orphanBytes(_ client: SpillTestClient, _ store: MemoryBlobStore, _ keys: [CacheKey]) async throws -> (bytes: Int, live: Int) {
        guard case .values(let values) = try await client.execute(.mget(keys)) else { return (-1, -1) }
        var live = Set<BlobID>()
        for value in values {
            if let value, case .pointer(let p) = SpillEnvelope.decode(value) { live.insert(p.id) }
        }
        var orphaned = 0
        for id in await store.ids where !live.contains(id) {
            orphaned += await store.get(id)?.readableBytes ?? 0
        }
        return (orphaned, live.count)
    }
}
