import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// `requireTTL` has no bypass: a keep-TTL write without a TTL could leave the key with none.
@Suite("LimitsGuard: requireTTL cannot be bypassed with keep-TTL")
struct RequireTTLKeepTests {
    @Test("keep-TTL without a TTL is refused where requireTTL holds, and nothing is written", arguments: TestBackend.allCases)
    func keepTTLRefused(backend: TestBackend) async throws {
        try await backend.withClient { (client: any CacheClient) async throws in
            let cache = GuardedCache(client: AnyCacheClient(client), policies: PolicyTable(defaults: CachePolicy(requireTTL: true), prefixes: ["free:": PolicyOverrides(requireTTL: false)])) {
                LimitsGuard()
            }
            do throws(CacheError) {
                try await cache.set("session:1", value: ByteBuffer(string: "v"), expiry: .keep)
                Issue.record("keep-TTL without a TTL passed requireTTL")
            } catch {
                #expect(error.code == .rejectedByPolicy)
                #expect(error.message.contains("keep-TTL"), "\(error)")
            }
            #expect(try await client.execute(.get("session:1")).valueOrNil == nil, "nothing was written")
            #expect(try await cache.set("session:1", value: ByteBuffer(string: "v"), expiry: .after(.seconds(60))) == .stored)
            #expect(try await cache.set("free:1", value: ByteBuffer(string: "v"), expiry: .keep) == .stored, "without requireTTL keep-TTL is fine")
        }
    }
}
