import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// The OOM ladder against each backend that can run out of memory: fill it until it refuses a
/// write, then check what `Degrade` does with each action.
@Suite("Degrade: the OOM ladder under a real OOM")
struct DegradeLadderTests {
    static let tinyMemory = 256 * 1024  // room for a real Redis's client buffers above its baseline

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

    /// Runs a throwing call and keeps its result or its typed error.
    static func result<T>(_ body: () async throws(CacheError) -> T) async -> Result<T, CacheError> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }

    @Test("shed: the write is dropped, reported, and nothing is thrown", arguments: TestBackend.allCases)
    func shed(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            try await fillUntilOOM(client)
            let degrade = Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { degrade }
            let (key, outcome) = try await client.untilRefused { n in
                let key = CacheKey("page:\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "hello")))
            }
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.get(key) == nil)
            #expect(degrade.stats.counts.shed == 1)
            #expect(degrade.fallback?.count == 0)
            let many = try await client.untilRefused { n in
                try await cache.mset([KeyValue(CacheKey("a\(n)"), ByteBuffer(string: "1")), KeyValue(CacheKey("b\(n)"), ByteBuffer(string: "2"))])
            }
            #expect(many == .dropped(.outOfMemory))
        }
    }

    @Test("fallback: the write is kept locally and read back, until the backend accepts it", arguments: TestBackend.allCases)
    func fallback(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            let filled = try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let degrade = Degrade(fallback: store)
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fallback)) { degrade }

            let (key, outcome) = try await client.untilRefused { n in
                let key = CacheKey("page:\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "kept")))
            }
            #expect(outcome == .storedLocally(.outOfMemory))
            #expect(outcome.isReadable)
            #expect(try await cache.get(key) == ByteBuffer(string: "kept"))
            #expect(try await cache.exists(key))
            #expect(try await cache.mget([key, "nothing"]) == [ByteBuffer(string: "kept"), nil])
            #expect(degrade.stats.counts.storedLocally == 1)

            // Make room (deletes flow under OOM), then the backend accepts the key again.
            for i in 0..<filled { _ = try await client.execute(.delete(CacheKey("filler:\(i)"))) }
            #expect(try await cache.set(key, value: ByteBuffer(string: "shared")) == .stored)
            #expect(store.isEmpty, "a successful backend write clears the local copy")
            #expect(try await cache.get(key) == ByteBuffer(string: "shared"))
        }
    }

    @Test("fail: the typed error is thrown", arguments: TestBackend.allCases)
    func fail(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            try await fillUntilOOM(client)
            let degrade = Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fail)) { degrade }
            let result = try await client.untilRefused { n in
                await Self.result { () async throws(CacheError) in try await cache.set(CacheKey("page:\(n)"), value: ByteBuffer(string: "x")) }
            }
            let error = result.failure
            #expect(error?.code == .outOfMemory)
            #expect(error?.message == CacheError.redisOOMMessage)
            #expect(degrade.stats.counts.failed == 1)
        }
    }

    @Test("reads, deletes, exists and expires keep working under OOM", arguments: TestBackend.allCases)
    func readsAndDeletesFlow(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) {
                Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
            }
            #expect(try await cache.set("before", value: ByteBuffer(string: "v")) == .stored)
            try await fillUntilOOM(client)
            let (after, outcome) = try await client.untilRefused { n in
                let key = CacheKey("after:\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "v")))
            }
            #expect(outcome == .dropped(.outOfMemory))
            #expect(try await cache.get("before") == ByteBuffer(string: "v"))
            #expect(try await cache.exists("before"))
            #expect(try await cache.mget(["before", after]) == [ByteBuffer(string: "v"), nil])
            #expect(try await cache.expire("before", ttl: .seconds(60)))
            #expect(try await cache.delete("before"))
            #expect(try await cache.get("before") == nil)
        }
    }

    @Test("a lock (NX) never reports success when nothing was stored", arguments: TestBackend.allCases)
    func lockNeverPretends(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { Degrade(fallback: store) }

            // `lock:` says fail: the caller learns it does not hold the lock.
            let locked = try await client.untilRefused { n in
                await Self.result { () async throws(CacheError) in
                    try await cache.set(CacheKey("lock:order:\(n)"), value: ByteBuffer(string: "owner"), expiry: .after(.seconds(30)), condition: .ifNotExists)
                }
            }
            #expect(locked.failure?.code == .outOfMemory)

            // `shed` reports a drop, never `.stored`.
            let shed = try await client.untilRefused { n in
                try await cache.set(CacheKey("shed:lock:\(n)"), value: ByteBuffer(string: "owner"), condition: .ifNotExists)
            }
            #expect(shed == .dropped(.outOfMemory))
            #expect(shed != .stored)

            // `fallback` never keeps a conditional write locally (other processes could not see it).
            let (localKey, local) = try await client.untilRefused { n in
                let key = CacheKey("local:lock:\(n)")
                return (
                    key,
                    await Self.result { () async throws(CacheError) in
                        try await cache.set(key, value: ByteBuffer(string: "owner"), condition: .ifNotExists)
                    }
                )
            }
            #expect(local.failure?.code == .outOfMemory)
            #expect(store.isEmpty)
            #expect(try await cache.get(localKey) == nil)
        }
    }

    @Test("increment: shed rethrows (no outcome to report), fallback counts on from the shared value", arguments: TestBackend.allCases)
    func increment(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .shed)) { Degrade(fallback: store) }
            #expect(try await cache.increment("local:hits", by: 5) == 5)
            try await fillUntilOOM(client)
            let shed = try await client.untilRefused { n in
                await Self.result { () async throws(CacheError) in try await cache.increment(CacheKey("shed:hits:\(n)")) }
            }
            #expect(shed.failure?.code == .outOfMemory, "shed has no outcome to report for a counter: it throws")
            // The refused increment counts on locally from the shared value, which stays put.
            let shared = try #require(try await cache.get("local:hits").flatMap { Int64(String(buffer: $0)) })
            let counted = try await client.untilRefused { _ in try await cache.increment("local:hits", by: 2) }
            let backend = try #require(try await client.execute(.get("local:hits")).valueBytes.flatMap { Int64(String(buffer: $0)) })
            #expect(counted == backend + 2)
            #expect(shared == 5)
            #expect(store.get("local:hits") == ByteBuffer(string: String(counted)))
        }
    }

    @Test("delete removes the local copy too", arguments: TestBackend.allCases)
    func deleteClearsFallback(backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: Self.tinyMemory) { raw in
            let client = RefusalProbe(AnyCacheClient(raw))
            try await fillUntilOOM(client)
            let store = FallbackStore(maxBytes: 4096, clock: ManualClock())
            let cache = GuardedCache(client: client, policies: Self.table(onOOM: .fallback)) { Degrade(fallback: store) }
            let (key, outcome) = try await client.untilRefused { n in
                let key = CacheKey("k\(n)")
                return (key, try await cache.set(key, value: ByteBuffer(string: "v")))
            }
            #expect(outcome == .storedLocally(.outOfMemory))
            #expect(try await cache.delete(key), "the local copy counts as a key removed")
            #expect(try await cache.get(key) == nil)
            #expect(store.isEmpty)
        }
    }

    @Test("errors without a failure class, and classes the policy does not name, propagate")
    func unclassifiedPropagates() async throws {
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: PolicyTable(defaults: CachePolicy(onOOM: .shed))) {
            Degrade(fallback: FallbackStore(maxBytes: 4096, clock: ManualClock()))
        }
        let error = await #expect(throws: CacheError.self) {
            try await cache.set("k", value: ByteBuffer(string: "v"), expiry: .after(.zero))
        }
        #expect(error?.code == .invalidArgument)
    }
}

extension Result {
    /// The error, if this is a failure.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension CacheReply {
    /// The bytes of a `get` reply.
    var valueBytes: ByteBuffer? {
        if case .value(let v) = self { return v }
        return nil
    }
}
