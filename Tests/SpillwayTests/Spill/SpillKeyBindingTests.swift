import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// Pointers are bound to the key they were written under (issue 13): a pointer copied under
/// another key is a counted `foreign` miss, never the first key's bytes, and never releases or
/// moves the first key's blob.
@Suite("ValueSpill: pointers bound to their key")
struct SpillKeyBindingTests {
    @Test("a pointer copied under another key reads as a miss counted as foreign, never another key's bytes", arguments: TestBackend.allCases)
    func copiedPointer(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let store = MemoryBlobStore()
            let metrics = SpillTestMetrics()
            let stats = SpillStats()
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: store, stats: stats, metricsFactory: metrics)
            }
            let report = spillBytes(5000, seed: 42)
            try await cache.set("user:1:report", value: report)
            let id = try #require(await store.ids.first)
            let pointer = try #require(try await rawValue(client, "user:1:report"))
            // Someone with write access to the cache copies the pointer under a key the
            // application reads back to another user.
            _ = try await client.execute(.set("user:2:report", pointer, SetOptions()))
            #expect(try await cache.get("user:2:report") == nil)
            #expect(try await cache.mget(["user:2:report", "user:1:report"]) == [nil, report])
            #expect(stats.counts.foreign == 2)
            #expect(metrics.total("spillway_blob_foreign_total") == 2)
            #expect(metrics.total("spillway_blob_corruption_total") == 0)
            #expect(metrics.total("spillway_blob_misses_total") == 0)

            // Overwriting, deleting or expiring the keys the pointer was copied to never
            // releases the first key's blob, nor moves its expiry.
            try await cache.set("user:2:report", value: ByteBuffer(string: "mine"))
            _ = try await client.execute(.set("user:3:report", pointer, SetOptions()))
            #expect(try await cache.delete("user:3:report"))
            _ = try await client.execute(.set("user:4:report", pointer, SetOptions()))
            #expect(try await cache.expire("user:4:report", ttl: .seconds(1)))
            #expect(await store.count == 1)
            #expect(await store.metadata(of: id)?.expiresAt == nil, "the copy's expire did not touch the blob")
            #expect(try await cache.get("user:1:report") == report, "the owner still reads its value")
            #expect(try await cache.get("user:2:report") == ByteBuffer(string: "mine"))
        }
    }

    @Test("a pointer written with another deployment secret reads as foreign; with the same secret it resolves")
    func otherSecret() async throws {
        let client = SpillTestClient(MemoryCache())
        let store = MemoryBlobStore()
        let stats = SpillStats()
        let writer = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
            ValueSpill(store: store, secret: XXH3Secret(keyMaterial: "deployment-a"))
        }
        let stranger = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
            ValueSpill(store: store, secret: XXH3Secret(keyMaterial: "deployment-b"), stats: stats)
        }
        let sibling = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
            ValueSpill(store: store, secret: XXH3Secret(keyMaterial: "deployment-a"))
        }
        try await writer.set("k", value: spillBytes(3000))
        #expect(try await stranger.get("k") == nil)
        #expect(stats.counts.foreign == 1)
        #expect(try await sibling.get("k") == spillBytes(3000))
        let pointer = try #require(try await rawValue(client, "k"))
        guard case .pointer(let p) = SpillEnvelope.decode(pointer) else {
            Issue.record("no pointer")
            return
        }
        #expect(p.keyDigest != XXH3.hash128(ByteBuffer(string: "k")), "the key digest is keyed")
        #expect(p.digest == XXH3.hash128(spillBytes(3000), secret: XXH3Secret(keyMaterial: "deployment-a")))
    }
}
