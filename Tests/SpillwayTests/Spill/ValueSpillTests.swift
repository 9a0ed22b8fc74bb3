import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// Shared bodies: each runs against every backend in `TestBackend.allCases`.
@Suite("ValueSpill")
struct ValueSpillTests {
    static let threshold = 1024

    /// Builds the guarded chain of the issue around `client`, spilling to `store`.
    static func cache<S: BlobStore>(
        _ client: SpillTestClient, _ store: S, metrics: SpillTestMetrics = SpillTestMetrics(),
        policies: PolicyTable = spillPolicies(threshold: threshold)
    ) -> GuardedCache<SpillTestClient, _CacheMiddleware2<_CacheMiddleware2<KeyGuard, LimitsGuard>, ValueSpill<S>>> {
        GuardedCache(client: client, policies: policies) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: store, metricsFactory: metrics)
        }
    }

    @Test("values of threshold−1, threshold and threshold+1 bytes round-trip; only the last spills", arguments: TestBackend.allCases)
    func thresholdRoundTrip(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = Self.cache(client, store, metrics: metrics)
            for (i, size) in [Self.threshold - 1, Self.threshold, Self.threshold + 1, 1 << 20].enumerated() {
                let key = CacheKey("spill:rt:\(size)")
                let value = spillBytes(size, seed: UInt8(i))
                #expect(try await cache.set(key, value: value, expiry: .after(.seconds(60))) == .stored)
                #expect(try await cache.get(key) == value)
                let raw = try #require(try await rawValue(client, key))
                if size > Self.threshold {
                    #expect(raw.readableBytes < 100, "a spilled key holds only the pointer")
                    guard case .pointer(let p) = SpillEnvelope.decode(raw) else {
                        Issue.record("no pointer stored for \(size) bytes")
                        continue
                    }
                    #expect(p.length == UInt64(size))
                    #expect(p.digest == XXH3.hash128(value, secret: XXH3Secret(keyMaterial: KeyHasher.defaultKeyMaterial)), "the content digest is keyed with the deployment secret")
                    #expect(p.digest != XXH3.hash128(value))
                } else {
                    #expect(raw == value, "a value at or under the threshold is stored as it is")
                }
            }
            #expect(await store.count == 2)
            #expect(metrics.total("spillway_values_spilled_total") == 2)
            let all = try await cache.mget(["spill:rt:1023", "spill:rt:1025", "spill:rt:none", "spill:rt:1048576"])
            #expect(all == [spillBytes(1023, seed: 0), spillBytes(1025, seed: 2), nil, spillBytes(1 << 20, seed: 3)])
        }
    }

    @Test("raw values that start with the magic round-trip byte for byte, spilled or not", arguments: TestBackend.allCases)
    func magicPrefixedValues(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = Self.cache(client, store)
            let pointerLike = SpillPointer(storeName: "memory", id: .random(), length: 3, digest: XXH3.hash128([1, 2, 3]), keyDigest: XXH3.hash128([4]), expiresAt: nil).encoded()
            var big = ByteBuffer(bytes: SpillEnvelope.magic + [0x50])
            big.writeImmutableBuffer(spillBytes(4000))
            let values: [ByteBuffer] = [
                ByteBuffer(bytes: SpillEnvelope.magic), ByteBuffer(bytes: SpillEnvelope.magic + [0x45]),
                ByteBuffer(bytes: SpillEnvelope.magic + [0x45, 0x45, 9]), pointerLike, big,
            ]
            for (i, value) in values.enumerated() {
                let key = CacheKey("spill:magic:\(i)")
                try await cache.set(key, value: value)
                #expect(try await cache.get(key) == value, "value \(i) changed on the way")
            }
            #expect(await store.count == 1, "only the 4 KB value spilled")
        }
    }

    @Test("values written straight to the backend by another client read back unchanged", arguments: TestBackend.allCases)
    func foreignWrites(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let cache = Self.cache(client, MemoryBlobStore())
            let foreign: [ByteBuffer] = [
                ByteBuffer(string: "plain"), spillBytes(5000), ByteBuffer(bytes: [0xFF, 0xFE, 0, 1, 2, 3, 4, 5, 6]),
                ByteBuffer(bytes: SpillEnvelope.magic), ByteBuffer(bytes: SpillEnvelope.magic + Array("Xother".utf8)),
            ]
            for (i, value) in foreign.enumerated() {
                _ = try await client.execute(.set(CacheKey("foreign:\(i)"), value, SetOptions()))
                #expect(try await cache.get(CacheKey("foreign:\(i)")) == value)
            }
            #expect(try await cache.mget(foreign.indices.map { CacheKey("foreign:\($0)") }) == foreign.map { Optional($0) })
        }
    }

    @Test("a missing blob reads as a counted miss, never an error", arguments: TestBackend.allCases)
    func missingBlob(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = Self.cache(client, store, metrics: metrics)
            try await cache.set("spill:gone", value: spillBytes(5000))
            let id = try #require(await store.ids.first)
            #expect(await store.delete(id))
            #expect(try await cache.get("spill:gone") == nil)
            #expect(try await cache.mget(["spill:gone"]) == [nil])
            #expect(metrics.total("spillway_blob_misses_total") == 2)
            #expect(metrics.total("spillway_blob_corruption_total") == 0)
        }
    }

    @Test("a corrupted blob reads as a miss counted as corruption; wrong bytes never come back", arguments: TestBackend.allCases)
    func corruptedBlob(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = Self.cache(client, store, metrics: metrics)
            try await cache.set("spill:bad", value: spillBytes(5000))
            let id = try #require(await store.ids.first)
            #expect(await store.corrupt(id, byteAt: 2500))
            #expect(try await cache.get("spill:bad") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 1)
            #expect(metrics.total("spillway_blob_misses_total") == 0)
            // A pointer damaged in the cache is corruption too, not a crash and not bytes.
            var damaged = try #require(try await rawValue(client, "spill:bad"))
            damaged.setInteger(UInt8(9), at: damaged.readerIndex + 9)
            _ = try await client.execute(.set("spill:bad", damaged, SetOptions()))
            #expect(try await cache.get("spill:bad") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 2)
        }
    }

    @Test("a pointer write refused with OOM leaves no blob behind and reports the typed error", arguments: TestBackend.allCases)
    func oomLeavesNoBlob(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 64 * 1024, policy: .noEviction) { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = Self.cache(client, store, metrics: metrics)
            // Fill the backend past maxmemory with small values that do not spill.
            #expect(try await fillUntilOOM(client, prefix: "fill:", valueBytes: 900) > 0, "the backend never answered OOM")
            await #expect(throws: CacheError.self) { try await cache.set("spill:oom", value: spillBytes(50_000)) }
            do throws(CacheError) {
                try await cache.set("spill:oom", value: spillBytes(50_000))
            } catch {
                #expect(error.code == .outOfMemory)
            }
            #expect(await store.count == 0, "the new blob was deleted")
            #expect(await store.totalBytes == 0)
            #expect(metrics.total("spillway_spill_rollbacks_total") == 2)
            let after = try await rawValue(client, "spill:oom")
            #expect(after == nil)
        }
    }

    @Test("a pointer write that comes back dropped or with an unmet condition deletes the new blob", arguments: TestBackend.allCases)
    func droppedWriteLeavesNoBlob(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            // A stand-in for the Degrade middleware that sheds the write after ValueSpill.
            let shedding = GuardedCache(client: client, policies: spillPolicies(threshold: Self.threshold)) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store)
                ShedAll()
            }
            #expect(try await shedding.set("spill:shed", value: spillBytes(5000)) == .dropped(.outOfMemory))
            #expect(await store.count == 0)
            let cache = Self.cache(client, store)
            try await cache.set("spill:nx", value: spillBytes(3000, seed: 1))
            #expect(await store.count == 1)
            #expect(try await cache.set("spill:nx", value: spillBytes(5000), condition: .ifNotExists) == .conditionNotMet)
            #expect(await store.count == 1, "the NX loser's blob was deleted and the winner's kept")
            #expect(try await cache.get("spill:nx") == spillBytes(3000, seed: 1))
        }
    }

    @Test("overwrite and delete release the old blob (heads, SET … GET, or a read first)", arguments: TestBackend.allCases, SpillTestClient.PreviousMode.allCases)
    func overwriteAndDeleteRelease(backend: TestBackend, mode: SpillTestClient.PreviousMode) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base, mode: mode)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let cache = Self.cache(client, store, metrics: metrics)
            try await cache.set("spill:ow", value: spillBytes(5000, seed: 1), expiry: .after(.seconds(60)))
            let first = try #require(await store.ids.first)
            try await cache.set("spill:ow", value: spillBytes(6000, seed: 2), expiry: .after(.seconds(60)))
            #expect(await store.count == 1)
            #expect(await store.ids.first != first, "the first blob was released")
            #expect(try await cache.get("spill:ow") == spillBytes(6000, seed: 2))
            // Overwrite with a small value, asking for the previous one: the caller gets the
            // resolved big value and the blob is released.
            let result = try await cache.set("spill:ow", value: ByteBuffer(string: "small"), options: SetOptions(returnPrevious: true))
            #expect(result.outcome == .stored)
            if mode != .readFirst { #expect(result.previous == spillBytes(6000, seed: 2)) }
            #expect(await store.count == 0)
            #expect(try await cache.get("spill:ow") == ByteBuffer(string: "small"))
            try await cache.set("spill:del", value: spillBytes(7000))
            #expect(await store.count == 1)
            #expect(try await cache.delete("spill:del"))
            #expect(await store.count == 0)
            #expect(try await cache.get("spill:del") == nil)
            #expect(metrics.total("spillway_blobs_released_total") == 3)
            #expect(metrics.total("spillway_blob_misses_total") == 0)
        }
    }

    @Test("mset spills big values, releases the blobs it replaces, and mget resolves them", arguments: TestBackend.allCases)
    func msetAndMget(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = Self.cache(client, store)
            try await cache.set("m:a", value: spillBytes(4000, seed: 9))
            #expect(await store.count == 1)
            let pairs = [
                KeyValue("m:a", spillBytes(3000, seed: 1)), KeyValue("m:b", ByteBuffer(string: "b")),
                KeyValue("m:c", ByteBuffer(bytes: SpillEnvelope.magic + [1])), KeyValue("m:d", spillBytes(2000, seed: 4)),
            ]
            #expect(try await cache.mset(pairs, ttl: .seconds(30)) == .stored)
            #expect(await store.count == 2, "m:a's old blob was released; m:a and m:d spilled")
            #expect(try await cache.mget(pairs.map(\.key)) == pairs.map { Optional($0.value) })
        }
    }

    @Test("an mset that fails part-way (a cluster slot, a broken connection) keeps the blobs whose pointers were stored", arguments: TestBackend.allCases)
    func msetPartialFailure(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let faults = FaultInjector(seed: 1, clock: ManualClock())
            let store = MemoryBlobStore()
            let cache = GuardedCache(client: SpillTestClient(base), policies: spillPolicies(threshold: Self.threshold)) {
                KeyGuard()
                ValueSpill(store: store)
                faults
            }
            try await cache.set("part:b", value: ByteBuffer(string: "old b"))
            // Pairs 0 and 2 reach the backend, pair 1 does not, and the call throws.
            faults.inject(.partialPipeline(reply: 1, failingWith: .busy), on: .only(.mset), limit: 1)
            let pairs = [
                KeyValue("part:a", spillBytes(3000, seed: 1)), KeyValue("part:b", spillBytes(3000, seed: 2)),
                KeyValue("part:c", spillBytes(3000, seed: 3)),
            ]
            do throws(CacheError) {
                try await cache.mset(pairs)
                Issue.record("the partial failure was not thrown")
            } catch {
                #expect(error.code == .busy)
            }
            #expect(try await cache.get("part:a") == pairs[0].value, "a stored pointer's blob was kept, not rolled back")
            #expect(try await cache.get("part:b") == ByteBuffer(string: "old b"))
            #expect(try await cache.get("part:c") == pairs[2].value)
            #expect(await store.count == 2, "the blob whose pointer was not stored was rolled back")
        }
    }

    @Test("a value above maxValueBytes is rejected with a typed error and nothing is stored", arguments: TestBackend.allCases)
    func aboveMaxValue(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = Self.cache(client, store, policies: spillPolicies(threshold: 1024, maxValueBytes: 10_000))
            do throws(CacheError) {
                try await cache.set("spill:huge", value: spillBytes(10_001))
                Issue.record("accepted a value above maxValueBytes")
            } catch {
                #expect(error.code == .rejectedByPolicy)
            }
            // Also without LimitsGuard in front: ValueSpill checks before touching the store.
            let bare = GuardedCache(client: client, policies: spillPolicies(threshold: 1024, maxValueBytes: 10_000)) { ValueSpill(store: store) }
            do throws(CacheError) {
                try await bare.set("spill:huge", value: spillBytes(10_001))
                Issue.record("accepted a value above maxValueBytes")
            } catch {
                #expect(error.code == .rejectedByPolicy)
            }
            #expect(await store.count == 0)
        }
    }

    @Test("a full blob store: shed by default (.dropped(.blobStore)); with storage: fail, a typed .blobStore error naming ENOSPC; the key is not written", arguments: TestBackend.allCases)
    func fullStore(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore(capacityBytes: 12_000)
            let shedding = Self.cache(client, store)
            try await shedding.set("spill:1", value: spillBytes(10_000))
            #expect(try await shedding.set("spill:2", value: spillBytes(10_000)) == .dropped(.blobStore))
            let cache = Self.cache(client, store, policies: PolicyTable(defaults: CachePolicy(spillAbove: Self.threshold, onFailure: [.storage: .fail])))
            do throws(CacheError) {
                try await cache.set("spill:2", value: spillBytes(10_000))
                Issue.record("a full store accepted a blob")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.message.contains("ENOSPC"))
                #expect((error.underlying as? BlobIOError)?.errno == BlobIOError.ENOSPC)
            }
            #expect(try await rawValue(client, "spill:2") == nil)
            #expect(try await cache.get("spill:1") == spillBytes(10_000))
            await store.setFailPuts(CacheError(.blobStore, "injected EIO"))
            await #expect(throws: CacheError.self) { try await cache.set("spill:3", value: spillBytes(2000)) }
            // Small values do not touch the store at all.
            #expect(try await cache.set("spill:4", value: spillBytes(100)) == .stored)
        }
    }
}

/// Sheds every write, as the Degrade middleware does under `onOOM: shed`.
struct ShedAll: CacheMiddleware {
    func handle(
        _ operation: CacheOperation, context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if operation.isWrite { return .write(WriteResult(.dropped(.outOfMemory))) }
        return try await next(operation, context)
    }
}

@Suite("ValueSpill with Degrade")
struct ValueSpillDegradeTests {
    @Test("a spilled write kept locally under OOM is reported as dropped, leaves no blob, and never reads back a dead pointer", arguments: TestBackend.allCases)
    func storedLocallySpill(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 32 * 1024, policy: .noEviction) { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let fallback = FallbackStore(maxBytes: 1 << 20, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, onOOM: .fallback))) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store)
                Degrade(fallback: fallback)
            }
            try await cache.set("d:big", value: spillBytes(4000, seed: 1))
            let old = try #require(await store.ids.first)
            #expect(try await fillUntilOOM(client, prefix: "fill:", valueBytes: 900) > 0)
            let outcome = try await cache.set("d:big", value: spillBytes(50_000, seed: 2))
            #expect(outcome == .dropped(.outOfMemory), "a local copy of a spilled value could not be read back")
            #expect(await !store.ids.contains(old), "the old blob was released with the value Degrade deleted")
            #expect(await store.count == 0, "and the new blob was rolled back")
            #expect(try await cache.get("d:big") == nil, "neither a stale value nor a dead pointer")
            // Nothing is left for the sweeper.
            let report = try await BlobSweeper(store: store, client: client, minimumAge: .zero, clock: ManualClock()).sweepOnce()
            #expect(report.orphaned == 0)
            // Values that are not spilled are still kept locally, and read back.
            #expect(try await cache.set("d:small", value: ByteBuffer(string: "local")) == .storedLocally(.outOfMemory))
            #expect(try await cache.get("d:small") == ByteBuffer(string: "local"))
        }
    }

    @Test("under real OOM with onOOM: shed, Degrade reports .dropped and the new blob is deleted", arguments: TestBackend.allCases)
    func shedUnderOOM(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 32 * 1024, policy: .noEviction) { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, onOOM: .shed))) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store)
                Degrade()
            }
            try await cache.set("d:kept", value: spillBytes(4000))
            #expect(await store.count == 1)
            #expect(try await fillUntilOOM(client, prefix: "fill:", valueBytes: 900) > 0)
            let outcome = try await cache.set("d:shed", value: spillBytes(50_000))
            #expect(outcome == .dropped(.outOfMemory))
            #expect(await store.count == 1, "only the blob of the stored key remains")
            #expect(try await cache.get("d:kept") == spillBytes(4000))
            #expect(try await cache.get("d:shed") == nil)
        }
    }
}
