import Logging
import NIOCore
import Spillway
import SpillwayPolicyFile
import SpillwayTesting
import Testing

@Suite("Key namespace and key secret")
struct KeyNamespaceTests {
    static let policies = PolicyTable(defaults: CachePolicy(maxKeyBytes: 64))
    static let longKey = CacheKey(String(repeating: "user:1:", count: 100))

    @Test("a raw key shaped like a hashed key does not reach the hashed key's value")
    func rawCannotNameHashed() async throws {
        let memory = MemoryCache(clock: ManualClock())
        let cache = GuardedCache(client: memory, policies: Self.policies) { KeyGuard() }
        #expect(try await cache.set(Self.longKey, value: ByteBuffer(string: "victim")) == .stored)
        // The exact name the long key has in the backend.
        let backendName = KeyHasher().hashed(Self.longKey, maxKeyBytes: 64)
        #expect(backendName.count <= 64)
        #expect(KeyHasher.hasHashedForm(backendName))
        guard case .value(let stored) = try await memory.execute(.get(backendName)) else { Issue.record("get"); return }
        #expect(stored == ByteBuffer(string: "victim"))
        // Sent as a raw key, that name neither reads nor overwrites the long key's value.
        #expect(try await cache.get(backendName) == nil)
        #expect(try await cache.set(backendName, value: ByteBuffer(string: "attacker")) == .stored)
        #expect(try await cache.get(Self.longKey) == ByteBuffer(string: "victim"))
        #expect(try await cache.get(backendName) == ByteBuffer(string: "attacker"))
        #expect(try await cache.exists(backendName))
        #expect(try await cache.delete(backendName))
        #expect(try await cache.get(Self.longKey) == ByteBuffer(string: "victim"))
    }

    @Test("the shape check: #v1: or #v2: and 32 lowercase hex digits at the end, nothing else")
    func shape() {
        let digits = String(repeating: "0123456789abcdef", count: 2)
        #expect(KeyHasher.hasHashedForm(CacheKey("#v1:" + digits)))
        #expect(KeyHasher.hasHashedForm(CacheKey("anything…{tag}#v1:" + digits)))
        #expect(!KeyHasher.hasHashedForm(CacheKey("#v1:" + digits.uppercased())))
        #expect(!KeyHasher.hasHashedForm(CacheKey("#v1:" + digits.dropLast())))
        #expect(KeyHasher.hasHashedForm(CacheKey("#v2:" + digits)))
        #expect(KeyHasher.hasHashedForm(CacheKey("x…{#@ABC}#v2:" + digits)))
        #expect(!KeyHasher.hasHashedForm(CacheKey("#v3:" + digits)))
        #expect(!KeyHasher.hasHashedForm(CacheKey("#v0:" + digits)))
        #expect(!KeyHasher.hasHashedForm(CacheKey("#v1:" + digits + "x")))
        #expect(!KeyHasher.hasHashedForm(CacheKey("session:42")))
        for key in [Self.longKey, CacheKey(String(repeating: "{t}é", count: 300)), CacheKey("{" + String(repeating: "t", count: 300) + "}")] {
            for limit in [48, 64, 256] {
                #expect(KeyHasher.hasHashedForm(KeyHasher().hashed(key, maxKeyBytes: limit)))
            }
        }
    }

    @Test("a hash-shaped key is hashed under keyOverflow: reject too, and strict mode flags it")
    func rejectAndStrict() async throws {
        let shaped = KeyHasher().hashed(Self.longKey, maxKeyBytes: 64)
        let memory = MemoryCache(clock: ManualClock())
        let rejecting = GuardedCache(client: memory, policies: PolicyTable(defaults: CachePolicy(maxKeyBytes: 64, keyOverflow: .reject))) { KeyGuard() }
        #expect(try await rejecting.set(shaped, value: ByteBuffer(string: "x")) == .stored)
        guard case .value(nil) = try await memory.execute(.get(shaped)) else { Issue.record("the raw name reached the backend"); return }
        let strict = GuardedCache(client: memory, policies: Self.policies) { KeyGuard(strict: true) }
        let e = await #expect(throws: CacheError.self) { try await strict.get(shaped) }
        #expect(e?.code == .strictMode)
        #expect(e?.message.contains("hashed-key form") == true)
    }

    @Test("the default key material is warned about once at start, and counted")
    func defaultSecretWarning() async throws {
        let log = LogCapture()
        let metrics = SpillTestMetrics()
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: Self.policies, logger: log.logger()) {
            KeyGuard(metricsFactory: metrics)
        }
        try cache.checkStartup()
        for i in 0..<5 { try await cache.set(CacheKey("k\(i)"), value: ByteBuffer(string: "v")) }
        _ = try await cache.get(Self.longKey)
        let warnings = log.records.filter { $0.level == .warning && $0.message.contains("default key material") }
        #expect(warnings.count == 1)
        #expect(metrics.total("spillway_key_hash_default_secret_total") == 1)

        let quiet = LogCapture()
        let ownMetrics = SpillTestMetrics()
        let own = GuardedCache(client: MemoryCache(clock: ManualClock()), policies: Self.policies, logger: quiet.logger()) {
            KeyGuard(hasher: KeyHasher(secret: XXH3Secret(keyMaterial: "deployment-2026")), metricsFactory: ownMetrics)
        }
        try own.checkStartup()
        _ = try await own.get(Self.longKey)
        #expect(quiet.records.allSatisfy { $0.level < .warning })
        #expect(ownMetrics.total("spillway_key_hash_default_secret_total") == 0)
        #expect(!KeyHasher(secret: XXH3Secret(keyMaterial: "deployment-2026")).usesDefaultSecret)
        #expect(KeyHasher().usesDefaultSecret)
    }

    @Test("requireSecret refuses to start with the default key material; nothing reaches the backend")
    func requireSecret() async throws {
        let memory = MemoryCache(clock: ManualClock())
        let strictTable = PolicyTable(defaults: CachePolicy(maxKeyBytes: 64), requireSecret: true)
        let refused = GuardedCache(client: memory, policies: strictTable) { KeyGuard() }
        let e = #expect(throws: CacheError.self) { try refused.checkStartup() }
        #expect(e?.code == .invalidArgument)
        #expect(e?.message.contains("requireSecret") == true)
        let write = await #expect(throws: CacheError.self) { try await refused.set("k", value: ByteBuffer(string: "v")) }
        #expect(write?.code == .invalidArgument)
        guard case .bool(false) = try await memory.execute(.exists("k")) else { Issue.record("the write reached the backend"); return }

        let accepted = GuardedCache(client: memory, policies: strictTable) {
            KeyGuard(hasher: KeyHasher(secret: XXH3Secret(keyMaterial: "deployment-2026")))
        }
        try accepted.checkStartup()
        #expect(try await accepted.set("k", value: ByteBuffer(string: "v")) == .stored)
    }

    @Test("requireSecret in a policy file reaches the table and the generated Swift")
    func policyFile() throws {
        let file = try PolicyFile.parse("requireSecret: true\ndefaults: {maxKeyBytes: 64}\n")
        #expect(file.requireSecret)
        #expect(file.table.requireSecret)
        #expect(PolicySwiftEmitter.swiftSource(for: file, sourceName: "p.yml").contains("requireSecret: true"))
        #expect(try !PolicyFile.parse("defaults: {maxKeyBytes: 64}\n").table.requireSecret)
        let bad = PolicyFile.check(Array("requireSecret: maybe\ndefaults: {}\n".utf8))
        #expect(bad.errors.contains { $0.message.contains("requireSecret must be true or false") })
    }
}
