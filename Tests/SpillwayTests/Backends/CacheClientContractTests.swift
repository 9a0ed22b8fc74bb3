import NIOCore
import Spillway
import Testing

/// The `CacheClient` contract, run against every backend.
@Suite("CacheClient contract", .sharedRedisCluster)
struct CacheClientContractTests {
    @Test("get, set, delete and exists", arguments: TestBackend.withCluster)
    func basics(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            let key: CacheKey = "contract:basics"
            #expect(try await client.value(of: key) == nil)
            let write = try await client.execute(.set(key, ByteBuffer(string: "v1"), SetOptions()))
            guard case .write(let result) = write else { Issue.record("not a write: \(write)"); return }
            #expect(result.outcome == .stored)
            #expect(try await client.value(of: key) == ByteBuffer(string: "v1"))
            guard case .bool(let exists) = try await client.execute(.exists(key)) else { Issue.record("exists"); return }
            #expect(exists)
            guard case .count(let removed) = try await client.execute(.delete(key)) else { Issue.record("delete"); return }
            #expect(removed == 1)
            guard case .count(let again) = try await client.execute(.delete(key)) else { Issue.record("delete"); return }
            #expect(again == 0)
            #expect(try await client.value(of: key) == nil)
        }
    }

    @Test("set conditions and returning the previous value", arguments: TestBackend.withCluster)
    func conditions(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            let key: CacheKey = "contract:cond"
            #expect(try await client.write(key, "a", SetOptions(condition: .ifExists)).outcome == .conditionNotMet)
            #expect(try await client.write(key, "a", SetOptions(condition: .ifNotExists)).outcome == .stored)
            #expect(try await client.write(key, "b", SetOptions(condition: .ifNotExists)).outcome == .conditionNotMet)
            #expect(try await client.value(of: key) == ByteBuffer(string: "a"))
            let swapped = try await client.write(key, "c", SetOptions(returnPrevious: true))
            #expect(swapped.outcome == .stored)
            #expect(swapped.previous == ByteBuffer(string: "a"))
            let refused = try await client.write(key, "d", SetOptions(condition: .ifNotExists, returnPrevious: true))
            #expect(refused.outcome == .conditionNotMet)
            #expect(refused.previous == ByteBuffer(string: "c"))
            let fresh = try await client.write("contract:cond2", "x", SetOptions(condition: .ifExists, returnPrevious: true))
            #expect(fresh.outcome == .conditionNotMet)
            #expect(fresh.previous == nil)
            await #expect(throws: CacheError.self) {
                try await client.write(key, "e", SetOptions(expiry: .after(.zero)))
            }
        }
    }

    @Test("increment creates, adds and keeps its first TTL", arguments: TestBackend.withCluster)
    func increment(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            let key: CacheKey = "contract:counter"
            #expect(try await client.increment(key, by: 5, ttl: .seconds(60)) == 5)
            #expect(try await client.increment(key, by: -2, ttl: .seconds(60)) == 3)
            #expect(try await client.increment("contract:plain", by: 7, ttl: nil) == 7)
            _ = try await client.write("contract:text", "abc", SetOptions())
            do {
                _ = try await client.increment("contract:text", by: 1, ttl: .seconds(1))
                Issue.record("incrementing text must fail")
            } catch let error as CacheError {
                #expect(error.code == .other)
            }
        }
    }

    @Test("mget and mset, with and without TTL", arguments: TestBackend.withCluster)
    func multi(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            let pairs = (0..<5).map { KeyValue(CacheKey("contract:m\($0)"), ByteBuffer(string: "v\($0)")) }
            guard case .write(let plain) = try await client.execute(.mset(Array(pairs.prefix(3)), ttl: nil)) else { Issue.record("mset"); return }
            #expect(plain.outcome == .stored)
            guard case .write(let timed) = try await client.execute(.mset(Array(pairs.suffix(2)), ttl: .seconds(30))) else { Issue.record("mset"); return }
            #expect(timed.outcome == .stored)
            let keys = pairs.map(\.key) + ["contract:missing"]
            guard case .values(let values) = try await client.execute(.mget(keys)) else { Issue.record("mget"); return }
            #expect(values == pairs.map { Optional($0.value) } + [nil])
            guard case .values(let none) = try await client.execute(.mget([])) else { Issue.record("mget"); return }
            #expect(none.isEmpty)
        }
    }

    @Test("expire reports whether the key existed", arguments: TestBackend.withCluster)
    func expire(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            _ = try await client.write("contract:e", "v", SetOptions())
            guard case .bool(let existed) = try await client.execute(.expire("contract:e", ttl: .seconds(10))) else { Issue.record("expire"); return }
            #expect(existed)
            guard case .bool(let missing) = try await client.execute(.expire("contract:none", ttl: .seconds(10))) else { Issue.record("expire"); return }
            #expect(!missing)
            guard case .bool(let removed) = try await client.execute(.expire("contract:e", ttl: .zero)) else { Issue.record("expire"); return }
            #expect(removed)
            #expect(try await client.value(of: "contract:e") == nil)
        }
    }

    @Test("throttle allows the burst, then denies with a retry time", arguments: TestBackend.withCluster)
    func throttle(_ backend: TestBackend) async throws {
        try await backend.withClient { client in
            let parameters = GCRAParameters(limit: 3, period: .seconds(3600))
            for expected in [2, 1, 0] {
                guard case .throttle(let decision) = try await client.execute(.throttle("contract:rl", parameters)) else { Issue.record("throttle"); return }
                #expect(decision.allowed)
                #expect(decision.remaining == expected)
            }
            guard case .throttle(let denied) = try await client.execute(.throttle("contract:rl", parameters)) else { Issue.record("throttle"); return }
            #expect(!denied.allowed)
            #expect(denied.retryAfter > .seconds(1100) && denied.retryAfter <= .seconds(1200))
        }
    }

    @Test("at maxmemory writes fail with outOfMemory and reads keep working", arguments: TestBackend.withCluster)
    func outOfMemory(_ backend: TestBackend) async throws {
        try await backend.withClient(maxMemory: 256 * 1024) { client in
            let value = ByteBuffer(repeating: 0x61, count: 4096)
            var stored = 0
            var refusal: CacheError?
            for i in 0..<10_000 {
                do {
                    _ = try await client.write(CacheKey("contract:fill:\(i)"), value, SetOptions())
                    stored += 1
                } catch let error as CacheError {
                    refusal = error
                    break
                }
            }
            let error = try #require(refusal)
            #expect(error.code == .outOfMemory)
            #expect(error.message.hasPrefix("OOM command not allowed"))
            #expect(stored > 10)
            #expect(try await client.value(of: "contract:fill:0") == value)
            guard case .count(let removed) = try await client.execute(.delete("contract:fill:0")) else { Issue.record("delete"); return }
            #expect(removed == 1)
            let stats = try await client.memoryStats()
            #expect(stats.keyCount == stored - 1)
            #expect(stats.maxBytes != nil)
        }
    }
}

extension CacheClient {
    func value(of key: CacheKey) async throws(CacheError) -> ByteBuffer? {
        let reply = try await execute(.get(key))
        guard case .value(let value) = reply else { throw CacheError(.protocolError, "not a value: \(reply)") }
        return value
    }

    func write(_ key: CacheKey, _ value: String, _ options: SetOptions) async throws(CacheError) -> WriteResult {
        try await write(key, ByteBuffer(string: value), options)
    }

    func write(_ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions) async throws(CacheError) -> WriteResult {
        let reply = try await execute(.set(key, value, options))
        guard case .write(let result) = reply else { throw CacheError(.protocolError, "not a write: \(reply)") }
        return result
    }

    func increment(_ key: CacheKey, by: Int64, ttl: Duration?) async throws(CacheError) -> Int64 {
        let reply = try await execute(.increment(key, by: by, ttlOnCreate: ttl))
        guard case .integer(let n) = reply else { throw CacheError(.protocolError, "not an integer: \(reply)") }
        return n
    }
}
