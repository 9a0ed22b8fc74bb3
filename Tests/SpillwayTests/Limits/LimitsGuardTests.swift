import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("LimitsGuard")
struct LimitsGuardTests {
    let cache = GuardedCache(
        client: MemoryCache(clock: ManualClock()),
        policies: PolicyTable(
            defaults: CachePolicy(maxValueBytes: 1024),
            prefixes: ["session:": PolicyOverrides(requireTTL: true, maxTTL: .seconds(3600))]
        )
    ) {
        KeyGuard()
        LimitsGuard()
    }

    @Test("values over maxValueBytes are rejected, at the limit they pass")
    func valueSize() async throws {
        #expect(try await cache.set("a", value: ByteBuffer(repeating: 0, count: 1024)) == .stored)
        let e = await #expect(throws: CacheError.self) { try await cache.set("b", value: ByteBuffer(repeating: 0, count: 1025)) }
        #expect(e?.code == .rejectedByPolicy)
        #expect(e?.message.contains("1025 bytes") == true)
        #expect(try await cache.get("b") == nil)
    }

    @Test("TTLs: required, bounded, positive")
    func ttls() async throws {
        let missing = await #expect(throws: CacheError.self) { try await cache.set("session:1", value: ByteBuffer(string: "x")) }
        #expect(missing?.code == .rejectedByPolicy)
        let tooLong = await #expect(throws: CacheError.self) { try await cache.set("session:1", value: ByteBuffer(string: "x"), expiry: .after(.seconds(7200))) }
        #expect(tooLong?.code == .rejectedByPolicy)
        let negative = await #expect(throws: CacheError.self) { try await cache.set("x", value: ByteBuffer(string: "x"), expiry: .after(.seconds(-5))) }
        #expect(negative?.code == .invalidArgument)
        let zeroExpire = await #expect(throws: CacheError.self) { try await cache.expire("x", ttl: .zero) }
        #expect(zeroExpire?.code == .invalidArgument)
        #expect(try await cache.set("session:1", value: ByteBuffer(string: "x"), expiry: .after(.seconds(60))) == .stored)
    }
}
