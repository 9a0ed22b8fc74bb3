import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// The OOM ladder against each backend that can run out of memory: fill it until it refuses a
/// write, then check what `Degrade` does with each action.
@Suite("Degrade: the OOM ladder under a real OOM")
struct DegradeLadderTests {
    static let tinyMemory = 8 * 1024

    static func table(onOOM: DegradeAction) -> PolicyTable {
        PolicyTable(
            defaults: CachePolicy(onOOM: onOOM),
            prefixes: [
                "lock:": PolicyOverrides(onOOM: .fail),
                "shed:": PolicyOverrides(onOOM: .shed),
                "local:": PolicyOverrides(onOOM: .fallback),
            ]
        )
    }

    @Test("shed: the write is dropped, reported, and nothing is thrown", arguments: TestBackend.allCases)
    func shed(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let degrade = Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { degrade }
            let outcome = try await cache.set("page:1", value: ByteBuffer(string: "hello"))
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.get("page:1") == nil)
            #expect(degrade.stats.counts.shed == 1)
            #expect(degrade.fallback?.count == 0)
            let many = try await cache.mset([KeyValue("a", ByteBuffer(string: "1")), KeyValue("b", ByteBuffer(string: "2"))])
            #expect(many == .dropped(.outOfMemory))
        }
    }

    @Test("fallback: the write is kept locally and read back, until the backend accepts it", arguments: TestBackend.allCases)
    func fallback(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            let filled = try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let degrade = Degrade(fallback: store)
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fallback)) { degrade }

            let outcome = try await cache.set("page:1", value: ByteBuffer(string: "kept"))
            #expect(outcome == .storedLocally(.outOfMemory))
            #expect(outcome.isReadable)
            #expect(try await cache.get("page:1") == ByteBuffer(string: "kept"))
            #expect(try await cache.exists("page:1"))
            #expect(try await cache.mget(["page:1", "nothing"]) == [ByteBuffer(string: "kept"), nil])
            #expect(degrade.stats.counts.storedLocally == 1)

            // Make room (deletes flow under OOM), then the backend accepts the key again.
            for i in 0..<filled { _ = try await client.execute(.delete(CacheKey("filler:\(i)"))) }
            #expect(try await cache.set("page:1", value: ByteBuffer(string: "shared")) == .stored)
            #expect(store.isEmpty, "a successful backend write clears the local copy")
            #expect(try await cache.get("page:1") == ByteBuffer(string: "shared"))
        }
    }

    @Test("fail: the typed error is thrown", arguments: TestBackend.allCases)
    func fail(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let degrade = Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fail)) { degrade }
            let error = await #expect(throws: CacheError.self) {
                try await cache.set("page:1", value: ByteBuffer(string: "x"))
            }
            #expect(error?.code == .outOfMemory)
            #expect(error?.message == CacheError.redisOOMMessage)
            #expect(degrade.stats.counts.failed == 1)
        }
    }

    @Test("reads, deletes, exists and expires keep working under OOM", arguments: TestBackend.allCases)
    func readsAndDeletesFlow(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) {
                Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            }
            #expect(try await cache.set("before", value: ByteBuffer(string: "v")) == .stored)
            try await fillUntilOOM(client)
            #expect(try await cache.set("after", value: ByteBuffer(string: "v")) == .dropped(.outOfMemory))
            #expect(try await cache.get("before") == ByteBuffer(string: "v"))
            #expect(try await cache.exists("before"))
            #expect(try await cache.mget(["before", "after"]) == [ByteBuffer(string: "v"), nil])
            #expect(try await cache.expire("before", ttl: .seconds(60)))
            #expect(try await cache.delete("before"))
            #expect(try await cache.get("before") == nil)
        }
    }

    @Test("a lock (NX) never reports success when nothing was stored", arguments: TestBackend.allCases)
    func lockNeverPretends(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { Degrade(fallback: store) }

            // `lock:` says fail: the caller learns it does not hold the lock.
            let error = await #expect(throws: CacheError.self) {
                try await cache.set("lock:order:7", value: ByteBuffer(string: "owner"), ttl: .seconds(30), condition: .ifNotExists)
            }
            #expect(error?.code == .outOfMemory)

            // `shed` reports a drop, never `.stored`.
            let shed = try await cache.set("shed:lock", value: ByteBuffer(string: "owner"), condition: .ifNotExists)
            #expect(shed == .dropped(.outOfMemory))
            #expect(shed != .stored)

            // `fallback` never keeps a conditional write locally (other processes could not see it).
            await #expect(throws: CacheError.self) {
                try await cache.set("local:lock", value: ByteBuffer(string: "owner"), condition: .ifNotExists)
            }
            #expect(store.isEmpty)
            #expect(try await cache.get("local:lock") == nil)
        }
    }

    @Test("increment: shed rethrows (no outcome to report), fallback counts on from the shared value", arguments: TestBackend.allCases)
    func increment(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { Degrade(fallback: store) }
            #expect(try await cache.increment("local:hits", by: 5) == 5)
            try await fillUntilOOM(client)
            await #expect(throws: CacheError.self) { try await cache.increment("shed:hits") }
            #expect(try await cache.increment("local:hits", by: 2) == 7)
            #expect(try await cache.increment("local:hits", by: 1) == 8)
            #expect(try await cache.get("local:hits") == ByteBuffer(string: "5"), "the backend still holds the shared value")
            #expect(store.get("local:hits") == ByteBuffer(string: "8"))
        }
    }

    @Test("delete removes the local copy too", arguments: TestBackend.allCases)
    func deleteClearsFallback(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = AnyCacheClient(raw)
            try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fallback)) { Degrade(fallback: store) }
            #expect(try await cache.set("k", value: ByteBuffer(string: "v")) == .storedLocally(.outOfMemory))
            #expect(try await cache.delete("k"), "the local copy counts as a key removed")
            #expect(try await cache.get("k") == nil)
            #expect(store.isEmpty)
        }
    }

    @Test("errors without a failure class, and classes the policy does not name, propagate")
    func unclassifiedPropagates() async throws {
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
            Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
        }
        let error = await #expect(throws: CacheError.self) {
            try await cache.set("k", value: ByteBuffer(string: "v"), ttl: .zero)
        }
        #expect(error?.code == .invalidArgument)
    }
}
