import Logging
import NIOCore
import Spillway
import SpillwayTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Pointers name their store: reads from several stores, writes to one, and a pointer to a
/// store this instance lacks is a counted, once-logged `unknownStore` miss.
@Suite("Spill store names")
struct SpillStoreNameTests {
    @Test("FileBlobStore's default name is file@<host name>, and fits a pointer")
    func fileDefaultName() throws {
        let name = FileBlobStore.defaultName
        #expect(name.hasPrefix("file@"))
        #expect(name.count > "file@".count)
        #expect(SpillPointer.isValidStoreName(name))
        let store = try FileBlobStore.temporary()
        defer { try? store.removeAll() }
        #expect(store.name == name)
        var host = [UInt8](repeating: 0, count: 256)
        #expect(host.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) } == 0)
        #expect(name == "file@" + String(decoding: host.prefix { $0 != 0 }, as: UTF8.self))
    }

    @Test("moving from one store to another without a flag day: old pointers read from the old store, new values go to the new one, overwrites and deletes release in the right store", arguments: TestBackend.allCases)
    func migration(backend: TestBackend) async throws {
        try await backend.withClient { base in
            let client = SpillTestClient(base)
            let old = MemoryBlobStore(name: "file@old-host")
            let new = MemoryBlobStore(name: "postgres://db/blobs")
            let before = ValueSpillTests.cache(client, old)
            for i in 0..<4 { try await before.set(CacheKey("m:\(i)"), value: spillBytes(5000, seed: UInt8(i))) }
            #expect(await old.count == 4)
            // The new deployment writes to `new` and still reads `old`.
            let metrics = SpillTestMetrics()
            let after = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) {
                KeyGuard()
                LimitsGuard()
                ValueSpill(store: new, readStores: [old], metricsFactory: metrics)
            }
            for i in 0..<4 { #expect(try await after.get(CacheKey("m:\(i)")) == spillBytes(5000, seed: UInt8(i)), "old pointer \(i) read from the old store") }
            // Overwrite: the new blob goes to `new`, the old one is released from `old`.
            try await after.set("m:0", value: spillBytes(6000, seed: 9))
            #expect(await old.count == 3)
            #expect(await new.count == 1)
            #expect(try await after.get("m:0") == spillBytes(6000, seed: 9))
            // Delete and expire reach the old store too.
            #expect(try await after.delete("m:1"))
            #expect(await old.count == 2)
            #expect(try await after.expire("m:2", ttl: .seconds(30)))
            let expiries = await old.ids.asyncMap { await old.metadata(of: $0)?.expiresAt }
            #expect(expiries.contains { $0 != nil }, "the expire moved the old blob's expiry in the old store")
            // A mixed mget.
            let values = try await after.mget(["m:0", "m:2", "m:3", "m:none"])
            #expect(values == [spillBytes(6000, seed: 9), spillBytes(5000, seed: 2), spillBytes(5000, seed: 3), nil])
            #expect(metrics.total("spillway_blob_unknown_store_total") == 0)
            #expect(metrics.total("spillway_blob_misses_total") == 0)
        }
    }

    @Test("a pointer naming a store this instance lacks is an unknownStore miss: counted in stats and metrics, logged once per store name, never released")
    func unknownStore() async throws {
        let client = SpillTestClient(MemoryCache())
        let elsewhere = MemoryBlobStore(name: "file@other-host")
        let writer = ValueSpillTests.cache(client, elsewhere)
        try await writer.set("u:1", value: spillBytes(3000, seed: 1))
        try await writer.set("u:2", value: spillBytes(3000, seed: 2))
        let third = MemoryBlobStore(name: "file@third-host")
        try await ValueSpillTests.cache(client, third).set("u:3", value: spillBytes(3000, seed: 3))

        let here = MemoryBlobStore(name: "file@this-host")
        let stats = SpillStats()
        let metrics = SpillTestMetrics()
        let logs = LogCapture()
        let reader = GuardedCache(client: client, policies: spillPolicies(threshold: 1024), logger: logs.logger()) {
            KeyGuard()
            LimitsGuard()
            ValueSpill(store: here, stats: stats, metricsFactory: metrics)
        }
        for _ in 0..<3 {
            #expect(try await reader.get("u:1") == nil)
            #expect(try await reader.get("u:2") == nil)
        }
        #expect(try await reader.mget(["u:1", "u:3"]) == [nil, nil])
        #expect(stats.counts.unknownStore == 8)
        #expect(stats.counts.blobMisses == 0)
        #expect(metrics.total("spillway_blob_unknown_store_total") == 8)
        let warnings = logs.messages.filter { $0.contains("does not have") }
        #expect(warnings.count == 2, "logged once per unknown store name: \(logs.messages)")
        // Deleting the key does not touch the other instance's store.
        #expect(try await reader.delete("u:1"))
        #expect(await elsewhere.count == 2)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var out: [T] = []
        for element in self { out.append(await transform(element)) }
        return out
    }
}
