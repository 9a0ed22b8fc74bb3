import NIOCore
import Spillway
import SpillwayTesting
import Testing

@Suite("Spill lifetimes")
struct SpillLifetimeTests {
    @Test("a blob's expiry is the key's TTL plus grace, follows EXPIRE, and the sweeper honours the grace")
    func ttlPlusGrace() async throws {
        let clock = ManualClock()
        let backend = MemoryCache(clock: clock)
        let client = SpillTestClient(backend)
        let blobClock = BlobClock(clock: clock, origin: spillOrigin)
        let store = MemoryBlobStore()
        let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 100)) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: store, grace: .seconds(30), clock: blobClock)
        }
        try await cache.set("ttl:a", value: spillBytes(500), expiry: .after(.seconds(60)))
        let id = try #require(await store.ids.first)
        #expect(await store.metadata(of: id)?.expiresAt == spillOrigin.advanced(by: .seconds(90)))
        #expect(await store.metadata(of: id)?.createdAt == spillOrigin)
        #expect(await store.metadata(of: id)?.ownerKey == "ttl:a")
        guard case .pointer(let p) = SpillEnvelope.decode(try #require(try await rawValue(client, "ttl:a"))) else {
            Issue.record("no pointer")
            return
        }
        #expect(p.expiresAt == spillOrigin.advanced(by: .seconds(90)))

        clock.advance(by: .seconds(10))
        #expect(try await cache.expire("ttl:a", ttl: .seconds(100)))
        #expect(await store.metadata(of: id)?.expiresAt == spillOrigin.advanced(by: .seconds(140)))

        // No TTL: no expiry; the sweeper reconciles against the key instead.
        try await cache.set("ttl:none", value: spillBytes(500))
        let none = try #require(await store.ids.first { $0 != id })
        #expect(await store.metadata(of: none)?.expiresAt == nil)

        // A sweeper that never reconciles (huge minimum age) deletes by expiry alone: the key
        // expires at 110 s, the blob survives its 30 s grace, and goes at 140 s.
        let sweeper = BlobSweeper(store: store, client: client, minimumAge: .seconds(1_000_000), clock: clock, blobClock: blobClock)
        clock.advance(by: .seconds(101))  // t = 111 s
        #expect(try await cache.get("ttl:a") == nil)
        #expect(try await sweeper.sweepOnce().deleted == 0)
        #expect(await store.metadata(of: id) != nil, "within grace")
        clock.advance(by: .seconds(29))  // t = 140 s
        let report = try await sweeper.sweepOnce()
        #expect(report.expired == 1)
        #expect(report.bytesReclaimed == 500)
        #expect(await store.metadata(of: id) == nil)
        #expect(await store.count == 1, "the blob without TTL stays while its key points at it")
        #expect(try await cache.get("ttl:none") == spillBytes(500))
    }
}
