import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// No stale value after a shed overwrite: when an unconditional write does not reach the
/// backend (shed, or kept locally), the value it meant to replace is deleted there (Redis serves
/// `DEL` at maxmemory), and reads look at the local copy before the backend.
@Suite("Degrade: no stale value after a shed overwrite")
struct StaleOverwriteTests {
    static let tinyMemory = DegradeLadderTests.tinyMemory

    /// Writes `old:<n>` under `page:<n>` for n in 0..<count, before the backend is filled.
    static func seedOld<Client, Chain>(_ cache: GuardedCache<Client, Chain>, count: Int = 200) async throws {
        for n in 0..<count {
            #expect(try await cache.set(CacheKey("page:\(n)"), value: ByteBuffer(string: "old:\(n)")) == .stored)
        }
    }

    @Test("shed: the old value is gone, not read back", arguments: TestBackend.allCases)
    func shedDeletesOld(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { (raw: any CacheClient) async throws in
            let client = RefusalProbe(AnyCacheClient(raw))
            let degrade = Degrade<ManualClock>()
            let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) { degrade }
            try await Self.seedOld(cache)
            try await fillUntilOOM(client)
            let (key, outcome) = try await client.untilRefused { n in
                let key = CacheKey("page:\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "new:\(n)")))
            }
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.get(key) == nil, "the value the shed write meant to replace is not readable")
            #expect(try await raw.execute(.get(key)).valueOrNil == nil, "deleted in the backend")
            #expect(degrade.stats.counts.invalidated == 1)
        }
    }

    @Test("fallback: the local copy is read, never the backend's older value", arguments: TestBackend.allCases)
    func fallbackReadsLocalFirst(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { (raw: any CacheClient) async throws in
            let client = RefusalProbe(AnyCacheClient(raw))
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let degrade = Degrade<ManualClock>(fallback: store)
            let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(onOOM: .fallback))) { degrade }
            try await Self.seedOld(cache)
            try await fillUntilOOM(client)
            let (key, outcome) = try await client.untilRefused { n in
                let key = CacheKey("page:\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "new:\(n)")))
            }
            guard case .storedLocally = outcome else {
                Issue.record("expected storedLocally, got \(outcome)")
                return
            }
            let n = String(decoding: key.bytes.readableBytesView, as: UTF8.self).dropFirst("page:".count)
            #expect(try await cache.get(key) == ByteBuffer(string: "new:\(n)"))
            #expect(try await cache.mget([key]) == [ByteBuffer(string: "new:\(n)")])
            #expect(try await raw.execute(.get(key)).valueOrNil == nil, "the backend's old value was deleted")
        }
    }

    @Test("a local copy wins over a backend value written behind this process's back", arguments: TestBackend.allCases)
    func localFirst(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let faults = FaultInjector(seed: 3, clock: ManualClock())
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(onOOM: .fallback))) {
                Degrade<ManualClock>(fallback: store)
                faults
            }
            faults.inject(.outOfMemory, on: .writes)
            #expect(try await cache.set("k", value: ByteBuffer(string: "local")) == .storedLocally(.outOfMemory))
            // The fault did not stop this write: the backend now holds an older value.
            _ = try await raw.execute(.set("k", ByteBuffer(string: "older"), SetOptions()))
            #expect(try await cache.get("k") == ByteBuffer(string: "local"))
            #expect(try await cache.mget(["k"]) == [ByteBuffer(string: "local")])
        }
    }

    @Test("a conditional write (NX) that is shed deletes nothing", arguments: TestBackend.allCases)
    func conditionalLeftAlone(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let faults = FaultInjector(seed: 3, clock: ManualClock())
            let degrade = Degrade<ManualClock>()
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
                degrade
                faults
            }
            #expect(try await cache.set("lock:1", value: ByteBuffer(string: "owner")) == .stored)
            faults.inject(.outOfMemory, on: .writes)
            #expect(try await cache.set("lock:1", value: ByteBuffer(string: "other"), condition: .ifNotExists) == .dropped(.outOfMemory))
            #expect(try await cache.get("lock:1") == ByteBuffer(string: "owner"))
            #expect(degrade.stats.counts.invalidated == 0)
        }
    }

    @Test("a spilled overwrite the blob store cannot take deletes the old value and its blob", arguments: TestBackend.allCases)
    func spilledStorageShed(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let memory = MemoryBlobStore(name: "s")
            let blobs = FaultyBlobStore(memory)
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024))) {
                ValueSpill(store: blobs)
                Degrade<ManualClock>()
            }
            #expect(try await cache.set("big", value: spillBytes(4096, seed: 1)) == .stored)
            #expect(await memory.count == 1)
            blobs.mode = .full
            #expect(try await cache.set("big", value: spillBytes(8192, seed: 2)) == .dropped(.blobStore))
            #expect(try await cache.get("big") == nil, "the old value is not readable")
            #expect(await memory.count == 0, "its blob was released")
        }
    }

    @Test("an OOM-shed overwrite of a spilled value releases its blob, not only the pointer", arguments: TestBackend.allCases)
    func spilledOOMShedReleasesBlob(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let faults = FaultInjector(seed: 5, clock: ManualClock())
            let memory = MemoryBlobStore(name: "s")
            let degrade = Degrade<ManualClock>()
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, onOOM: .shed))) {
                ValueSpill(store: memory)
                degrade
                faults
            }
            #expect(try await cache.set("big", value: spillBytes(4096, seed: 1)) == .stored)
            #expect(await memory.count == 1)
            faults.inject(.outOfMemory, on: .writes)
            // A small value over a spilled one, refused: shed, the old pointer deleted with its
            // head returned, and the blob it named released at once (not left to the sweeper).
            #expect(try await cache.set("big", value: ByteBuffer(string: "small")) == .dropped(.outOfMemory))
            #expect(try await cache.get("big") == nil)
            #expect(degrade.stats.counts.invalidated == 1)
            #expect(await memory.count == 0, "the old blob was released")
        }
    }

    @Test("an OOM-shed mset over spilled values releases the old blobs and the new ones", arguments: TestBackend.allCases)
    func spilledOOMShedMset(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let faults = FaultInjector(seed: 5, clock: ManualClock())
            let memory = MemoryBlobStore(name: "s")
            let degrade = Degrade<ManualClock>()
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, onOOM: .shed))) {
                ValueSpill(store: memory)
                degrade
                faults
            }
            #expect(try await cache.mset([KeyValue("big:1", spillBytes(4096, seed: 1)), KeyValue("big:2", spillBytes(4096, seed: 2))]) == .stored)
            #expect(await memory.count == 2)
            faults.inject(.outOfMemory, on: .writes)
            // Refused: shed, each old pointer deleted with its head returned, the blobs it named
            // released at once, and the new value's blob rolled back.
            let outcome = try await cache.mset([KeyValue("big:1", ByteBuffer(string: "small")), KeyValue("big:2", spillBytes(8192, seed: 3))])
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.mget(["big:1", "big:2"]) == [nil, nil])
            #expect(degrade.stats.counts.invalidated == 2)
            #expect(await memory.count == 0, "the old blobs were released and the new one rolled back")
        }
    }

    @Test("an mset with a spilled value is never kept locally (its blob is rolled back): dropped, and its keys deleted", arguments: TestBackend.allCases)
    func spilledMsetNotKeptLocally(backend: TestBackend) async throws {
        try await backend.withClient { (raw: any CacheClient) async throws in
            let faults = FaultInjector(seed: 5, clock: ManualClock())
            let memory = MemoryBlobStore(name: "s")
            let local = FallbackStore(maxBytes: 64 * 1024, clock: ManualClock())
            let cache = GuardedCache(client: AnyCacheClient(raw), policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024, onOOM: .fallback))) {
                ValueSpill(store: memory)
                Degrade<ManualClock>(fallback: local)
                faults
            }
            #expect(try await cache.mset([KeyValue("m:1", spillBytes(4096, seed: 1)), KeyValue("m:2", ByteBuffer(string: "old"))]) == .stored)
            faults.inject(.outOfMemory, on: .writes)
            let outcome = try await cache.mset([KeyValue("m:1", spillBytes(2048, seed: 2)), KeyValue("m:2", ByteBuffer(string: "new"))])
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.mget(["m:1", "m:2"]) == [nil, nil], "no dead pointer and no stale value is read")
            #expect(local.isEmpty)
            #expect(await memory.count == 0)
            // Without a spilled value the mset is kept locally, as before.
            #expect(try await cache.mset([KeyValue("m:3", ByteBuffer(string: "local"))]) == .storedLocally(.outOfMemory))
            #expect(try await cache.get("m:3") == ByteBuffer(string: "local"))
        }
    }
}

extension CacheReply {
    /// The value of a `get` reply, `nil` for a miss or another reply.
    var valueOrNil: ByteBuffer? {
        if case .value(let v) = self { return v }
        return nil
    }
}
