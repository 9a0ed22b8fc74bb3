import Foundation
import NIOCore
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting
import Synchronization
import Testing

extension SharedStoreTests {
    /// A shared store that dies, hangs or goes away during a load through the guarded chain
    /// (`KeyGuard → LimitsGuard → ValueSpill → Degrade` over a MemoryCache): no wrong bytes, the
    /// writes are shed, the reads miss and are counted, and the store is used again when it is back.
    @Suite("Shared stores: outages during a load")
    struct SharedStoreOutageTests {
        /// The value of key number `n`: 3000 to 3600 bytes that differ for every `n`.
        static func value(_ n: Int) -> ByteBuffer {
            var b = ByteBuffer()
            let count = 3000 + (n % 7) * 100
            b.reserveCapacity(count)
            for j in 0..<count { b.writeInteger(UInt8(truncatingIfNeeded: j &* 31 &+ n &* 7 &+ (n >> 8))) }
            return b
        }

        /// What one operation of the load saw, with the phase it started in.
        enum Seen: Sendable {
            case stored(key: Int, phase: Int)
            case shed(phase: Int)
            case hit(phase: Int)
            case miss(phase: Int)
            case wrongBytes(key: Int)
            case error(String)
        }

        /// The load: `workers` tasks that each write a fresh spilled key or read a key that was
        /// stored, until `stop`, reporting every outcome on `events`.
        final class Load: Sendable {
            let phase = Atomic(0)
            let stop = Atomic(false)
            let nextKey = Atomic(0)
            let stored = Mutex<[Int]>([])

            func run<C: CacheClient, M: CacheMiddleware>(_ cache: GuardedCache<C, M>, worker: Int, events: AsyncStream<Seen>.Continuation) async {
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    i += 1
                    let phase = self.phase.load(ordering: .relaxed)
                    do throws(CacheError) {
                        if i % 2 == 0 {
                            let n = nextKey.wrappingAdd(1, ordering: .relaxed).oldValue
                            switch try await cache.set(CacheKey("load:\(n)"), value: Self.value(n)) {
                            case .stored:
                                stored.withLock { $0.append(n) }
                                events.yield(.stored(key: n, phase: phase))
                            case .dropped(.blobStore): events.yield(.shed(phase: phase))
                            case let other: events.yield(.error("set load:\(n): \(other)"))
                            }
                        } else {
                            let known = stored.withLock { $0.isEmpty ? nil : $0[(i &* 7919 &+ worker) % $0.count] }
                            guard let n = known else { continue }
                            if let value = try await cache.get(CacheKey("load:\(n)")) {
                                events.yield(value == Self.value(n) ? .hit(phase: phase) : .wrongBytes(key: n))
                            } else {
                                events.yield(.miss(phase: phase))
                            }
                        }
                    } catch {
                        events.yield(.error("\(error)"))
                    }
                }
            }

            static func value(_ n: Int) -> ByteBuffer { SharedStoreOutageTests.value(n) }
        }

        /// Tallies per phase.
        struct Tally {
            var stored = [0, 0, 0]
            var shed = [0, 0, 0]
            var hits = [0, 0, 0]
            var misses = [0, 0, 0]
            var wrong: [Int] = []
            var errors: [String] = []
            var storedAfter: [Int] = []

            mutating func add(_ seen: Seen) {
                switch seen {
                case .stored(let key, let phase):
                    stored[phase] += 1
                    if phase == 2 { storedAfter.append(key) }
                case .shed(let phase): shed[phase] += 1
                case .hit(let phase): hits[phase] += 1
                case .miss(let phase): misses[phase] += 1
                case .wrongBytes(let key): wrong.append(key)
                case .error(let text): errors.append(text)
                }
            }
        }

        /// Runs the load on `cache` through three phases: before the outage (until 40 values are
        /// stored), during it (`outage` is called, until 5 writes were shed and 5 reads missed),
        /// and after it (`recover` is called, until 10 values are stored again), or until a minute
        /// has gone by. Returns the tally.
        static func drive<C: CacheClient, M: CacheMiddleware>(
            _ cache: GuardedCache<C, M>, outage: @escaping @Sendable () async throws -> Void, recover: @escaping @Sendable () async throws -> Void
        ) async throws -> Tally {
            let load = Load()
            let (events, continuation) = AsyncStream<Seen>.makeStream()
            let deadline = ContinuousClock.now + .seconds(60)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask { await load.run(cache, worker: worker, events: continuation) }
                }
                var tally = Tally()
                for await seen in events {
                    tally.add(seen)
                    if ContinuousClock.now > deadline {
                        Issue.record("the load did not get through its phases within a minute: \(tally)")
                        break
                    }
                    let phase = load.phase.load(ordering: .relaxed)
                    if phase == 0 && tally.stored[0] >= 40 {
                        try await outage()
                        load.phase.store(1, ordering: .relaxed)
                    } else if phase == 1 && tally.shed[1] >= 5 && tally.misses[1] >= 5 {
                        try await recover()
                        load.phase.store(2, ordering: .relaxed)
                    } else if phase == 2 && tally.stored[2] >= 10 {
                        break
                    }
                }
                load.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()
                continuation.finish()
                for await seen in events { tally.add(seen) }
                return tally
            }
        }

        /// The checks every outage shares.
        static func check(_ tally: Tally, metrics: SpillTestMetrics, stats: SpillStats) {
            #expect(tally.wrong.isEmpty, "wrong bytes read for keys \(tally.wrong)")
            #expect(tally.errors.isEmpty, "errors reached the callers: \(tally.errors.prefix(5))")
            #expect(tally.shed[1] >= 5, "writes were shed during the outage: \(tally)")
            #expect(tally.misses[1] >= 5, "reads missed during the outage: \(tally)")
            #expect(tally.stored[2] >= 10, "the store took writes again after the outage: \(tally)")
            // Every read that missed (the key held a pointer) was counted: the store could not
            // be read (a degraded read), or the blob was gone (a commit lost in the crash).
            let counted = Int(metrics.total("spillway_reads_degraded_total")) + stats.counts.blobMisses
            #expect(counted == tally.misses.reduce(0, +), "misses counted \(counted), seen \(tally.misses)")
        }

        /// The chain every outage drives: `KeyGuard → LimitsGuard → ValueSpill(store) → Degrade`
        /// over a MemoryCache, counting into `stats` and `metrics`.
        static func guardedCache<Store: BlobStore>(
            _ store: Store, stats: SpillStats, metrics: SpillTestMetrics
        ) -> GuardedCache<MemoryCache<ContinuousClock>, some CacheMiddleware> {
            GuardedCache(client: MemoryCache(), policies: spillPolicies()) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store, stats: stats, metricsFactory: metrics)
                Degrade<ContinuousClock>(stats: DegradeStats())
            }
        }

        @Test("kill -9 of all of Postgres during a load: no wrong bytes, writes shed, reads miss (counted), and the pool reconnects once it restarts")
        func postgresKilled() async throws {
            let servers = try SharedStoreServers.get()
            let pg = servers.postgres
            let store = try servers.postgresStore(timeout: .seconds(2))
            let metrics = SpillTestMetrics()
            let stats = SpillStats()
            let cache = Self.guardedCache(store, stats: stats, metrics: metrics)
            let killed = Atomic(0)
            try await store.withRunning {
                let tally = try await Self.drive(
                    cache,
                    outage: { killed.store(pg.killAll(), ordering: .relaxed) },
                    recover: { try pg.restart() })
                #expect(killed.load(ordering: .relaxed) >= 2, "the postmaster and its backends were killed")
                Self.check(tally, metrics: metrics, stats: stats)
                // Values stored after the restart read back byte for byte.
                for n in tally.storedAfter {
                    #expect(try await cache.get(CacheKey("load:\(n)")) == Self.value(n))
                }
                try await store.dropTable()
            }
            // The suite's server runs again for the tests after this one.
            #expect(try pg.psql("SELECT 1") == "1")
        }

        @Test("moto slow (past the store's timeout), then stopped (connections refused), then back: classified, shed, counted, used again")
        func s3SlowThenStopped() async throws {
            let moto = try SharedStoreServers.get().moto
            try await FaultProxy.withProxy(targetPort: moto.port) { proxy in
                try await Self.s3Outage(moto: moto, proxy: proxy)
            }
        }

        static func s3Outage(moto: MotoServer, proxy: FaultProxy) async throws {
            let store = try S3BlobStore(
                configuration: .init(
                    bucket: moto.bucket, endpoint: "http://127.0.0.1:\(proxy.port)", region: moto.region, prefix: "outage\(UInt32.random(in: 0 ... .max))-",
                    accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey, timeout: .milliseconds(500)))
            // Slow: every answer held 2 s, four times the store's timeout.
            proxy.update(.downstream) { $0.latency = .seconds(2) }
            do throws(CacheError) {
                _ = try await store.put(Self.value(1), metadata: BlobMetadata(createdAt: BlobClock.wallNow()))
                Issue.record("a put through a 2 s delay succeeded within 500 ms")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.failureClass == .storage)
                #expect((error.underlying as? S3BlobStoreError)?.kind == .timedOut, "\(error)")
            }
            // Stopped: connections to it are refused.
            await proxy.heal()
            await proxy.setAcceptMode(.reset)
            _ = await proxy.resetAll()
            do throws(CacheError) {
                _ = try await store.get(BlobID.random())
                Issue.record("a get from a stopped store succeeded")
            } catch {
                #expect(error.code == .blobStore)
                #expect((error.underlying as? S3BlobStoreError)?.kind == .unreachable, "\(error)")
            }
            // The same under load through the chain: slow → shed and counted misses, then back.
            await proxy.setAcceptMode(.forward)
            let metrics = SpillTestMetrics()
            let stats = SpillStats()
            let cache = Self.guardedCache(store, stats: stats, metrics: metrics)
            let tally = try await Self.drive(
                cache,
                outage: {
                    proxy.update(.downstream) { $0.latency = .seconds(2) }
                    await proxy.setAcceptMode(.reset)
                    _ = await proxy.resetAll()
                },
                recover: {
                    await proxy.heal()
                    await proxy.setAcceptMode(.forward)
                })
            Self.check(tally, metrics: metrics, stats: stats)
            #expect(stats.counts.blobMisses == 0, "moto lost nothing: every miss was the store being away")
            for n in tally.storedAfter {
                #expect(try await cache.get(CacheKey("load:\(n)")) == Self.value(n))
            }
        }
    }
}
