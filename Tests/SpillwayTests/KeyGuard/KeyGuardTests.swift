import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("KeyGuard")
struct KeyGuardTests {
    static let longKey = CacheKey(String(repeating: "payload-", count: 1300) + "-first_task_at")

    /// A backend that records the keys it receives, to see what reaches the server.
    actor RecordingClient: CacheClient {
        let inner: MemoryCache<ManualClock>
        var seenKeys: [CacheKey] = []
        init() { inner = MemoryCache(clock: ManualClock()) }
        nonisolated var capabilities: CacheCapabilities { CacheCapabilities() }
        func memoryStats() async throws(CacheError) -> CacheMemoryStats { try await inner.memoryStats() }
        func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
            switch operation {
            case .mget(let keys): seenKeys += keys
            case .mset(let pairs, _): seenKeys += pairs.map(\.key)
            default: if let k = operation.primaryKey { seenKeys.append(k) }
            }
            return try await inner.execute(operation)
        }
    }

    @Test("every operation's keys are guarded: a GET finds what a SET wrote", arguments: TestBackend.allCases)
    func everyOperation(backend: TestBackend) async throws {
        try await backend.withClient { client in
            let cache = GuardedCache(client: AnyCacheClient(client)) { KeyGuard() }
            let key = Self.longKey
            #expect(try await cache.set(key, value: ByteBuffer(string: "v1")) == .stored)
            #expect(try await cache.get(key) == ByteBuffer(string: "v1"))
            #expect(try await cache.exists(key))
            #expect(try await cache.expire(key, ttl: .seconds(60)))
            #expect(try await cache.mget([key, "absent"]) == [ByteBuffer(string: "v1"), nil])
            #expect(try await cache.delete(key))
            #expect(try await cache.get(key) == nil)
            #expect(try await cache.increment(key, by: 5) == 5)
            #expect(try await cache.increment(key, by: 2) == 7)
            let other = CacheKey(String(repeating: "o", count: 4000))
            #expect(try await cache.mset([KeyValue(other, ByteBuffer(string: "m"))]) == .stored)
            #expect(try await cache.get(other) == ByteBuffer(string: "m"))
            let decision = try await cache.throttle(key.appending(":rl"), GCRAParameters(limit: 1, period: .seconds(60)))
            #expect(decision.allowed)
            // The bare client, asked with the original key, finds nothing: the long key never reached it.
            guard case .value(let raw) = try await client.execute(.get(key)) else { Issue.record("bad reply"); return }
            #expect(raw == nil)
        }
    }

    @Test("no key longer than maxKeyBytes reaches the backend")
    func nothingLongReachesBackend() async throws {
        let recorder = RecordingClient()
        let cache = GuardedCache(client: recorder, policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 100))) { KeyGuard() }
        try await cache.set(Self.longKey, value: ByteBuffer(string: "x"))
        _ = try await cache.get(Self.longKey)
        _ = try await cache.mget([Self.longKey, "short"])
        try await cache.mset([KeyValue(Self.longKey, ByteBuffer(string: "y"))])
        try await cache.increment(Self.longKey.appending(":n"))
        let seen = await recorder.seenKeys
        #expect(seen.count == 6)
        #expect(seen.allSatisfy { $0.count <= 100 })
        #expect(seen.contains("short"))
    }

    @Test("reject names the route, the size and a short preview, never the whole key")
    func reject() async throws {
        let table = PolicyTable(routes: ["POST /orders/upload": PolicyOverrides(keyOverflow: .reject)])
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: table) { KeyGuard() }
        let error = await #expect(throws: CacheError.self) {
            try await cache.set(Self.longKey, value: ByteBuffer(string: "x"), route: "POST /orders/upload")
        }
        let e = try #require(error)
        #expect(e.code == .rejectedByPolicy)
        #expect(e.route == "POST /orders/upload")
        #expect(e.message.contains("\(Self.longKey.count) bytes"))
        #expect(e.message.contains("POST /orders/upload"))
        #expect(e.message.contains("payload-payload-"))
        #expect(e.description.utf8.count < 400)
        // Another route hashes instead.
        #expect(try await cache.set(Self.longKey, value: ByteBuffer(string: "x"), route: "GET /other") == .stored)
    }

    @Test("strict mode fails with the caller's file and line")
    func strict() async throws {
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) { KeyGuard(strict: true) }
        var caught: CacheError?
        let line = #line + 2
        do {
            _ = try await cache.get(Self.longKey)
        } catch {
            caught = error
        }
        let e = try #require(caught)
        #expect(e.code == .strictMode)
        #expect(e.message.contains("KeyGuardTests.swift:\(line)"))
        #expect(e.message.contains("would be hashed"))
        // Short keys are untouched in strict mode.
        #expect(try await cache.set("ok", value: ByteBuffer(string: "1")) == .stored)
    }

    @Test("an empty key is a clear error, on every operation")
    func emptyKey() async throws {
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) { KeyGuard() }
        for op: CacheOperation in [.get(""), .set("", ByteBuffer(), SetOptions()), .delete(""), .mget(["a", ""])] {
            await #expect(throws: CacheError.self) { _ = try await cache.execute(op) }
            do {
                _ = try await cache.execute(op)
            } catch {
                #expect(error.code == .invalidArgument)
            }
        }
    }

    @Test("prefix policies apply per key in multi-key operations")
    func perKeyPolicies() async throws {
        let table = PolicyTable(prefixes: ["strict:": PolicyOverrides(keyOverflow: .reject)])
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: table) { KeyGuard() }
        let long = String(repeating: "k", count: 300)
        await #expect(throws: CacheError.self) { _ = try await cache.mget([CacheKey("ok:" + long), CacheKey("strict:" + long)]) }
        #expect(try await cache.mget([CacheKey("ok:" + long)]) == [nil])
    }
}

extension CacheKey {
    func appending(_ suffix: String) -> CacheKey {
        var b = bytes
        b.writeString(suffix)
        return CacheKey(bytes: b)
    }
}
