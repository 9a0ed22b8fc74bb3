import NIOCore
import Spillway
import Testing

/// The five-minute tour of README.md and of the DocC landing page
/// (Sources/Spillway/Spillway.docc/Spillway.md), verbatim, with what it promises checked, so the
/// tour keeps compiling and stays true. Change all three together.
@Suite("Five-minute tour")
struct TourTests {
    @Test("the tour's code runs and does what its comments say")
    func tour() async throws {
        // 1. A policy table: defaults, per-route overrides, per-key-prefix overrides.
        let policies = PolicyTable(
            defaults: CachePolicy(maxKeyBytes: 256, keyOverflow: .hash, maxValueBytes: 16 << 20, onOOM: .shed),
            routes: ["POST /orders/upload": PolicyOverrides(priority: .low)],
            prefixes: ["lock:": PolicyOverrides(keyOverflow: .reject, onOOM: .fail)]
        )

        // 2. Wrap a backend in a statically typed chain (top runs first).
        let cache = GuardedCache(client: MemoryCache(maxMemory: 64 << 20), policies: policies) {
            KeyGuard(hasher: KeyHasher(secret: XXH3Secret(keyMaterial: "my-deployment-secret")))
            LimitsGuard()
        }

        // 3. Use it like a cache. A 10 KB key never reaches the backend: it is hashed.
        let payloadKey = CacheKey(String(repeating: "sale_order,", count: 1000) + "-first_task_at")
        try await cache.set(payloadKey, value: ByteBuffer(string: "1764164000"), expiry: .after(.seconds(3600)))
        let value = try await cache.get(payloadKey)  // found: the GET is guarded the same way
        #expect(value == ByteBuffer(string: "1764164000"))

        // 4. Errors are one typed struct with an opaque code; nothing parses message strings.
        var rejected: CacheError?
        do {
            try await cache.set(CacheKey("lock:" + String(repeating: "x", count: 500)), value: ByteBuffer(string: "1"))
        } catch {
            // `error` is a CacheError (typed throws): here error.code == .rejectedByPolicy, and the
            // message names the route, the size, and a short preview of the key.
            rejected = error
        }
        #expect(rejected?.code == .rejectedByPolicy)
        let message = try #require(rejected).message
        #expect(message.contains("505"))
        #expect(!message.contains(String(repeating: "x", count: 500)))

        // 5. In tests, strict mode turns every key that would be hashed into a failure at the call site.
        let strict = GuardedCache(client: MemoryCache()) { KeyGuard(strict: true) }
        await #expect(throws: CacheError.self) {
            try await strict.set(payloadKey, value: ByteBuffer(string: "1"))
        }
    }
}
