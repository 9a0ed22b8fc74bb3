import Foundation
import NIOCore
import Spillway
import SpillwayPostgres
import SpillwayS3
import SpillwayTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every ``BlobStore`` the package ships, for the one contract suite they all pass.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case memory, file, postgres, s3
    var description: String { rawValue }

    /// Runs `body` with a fresh, empty store of this kind, removed afterwards.
    func withStore(_ body: (any BlobStore) async throws -> Void) async throws {
        switch self {
        case .memory:
            try await body(MemoryBlobStore())
        case .file:
            let store = try FileBlobStore.temporary()
            defer { try? store.removeAll() }
            try await body(store)
        case .postgres:
            try await SharedStoreServers.get().withPostgresStore { try await body($0) }
        case .s3:
            try await body(try SharedStoreServers.get().s3Store())
        }
    }

    /// Damages the stored bytes of `id` behind the store's back (one byte flipped).
    func corrupt(_ id: BlobID, in store: any BlobStore) async throws {
        switch store {
        case let memory as MemoryBlobStore:
            #expect(await memory.corrupt(id, byteAt: 10))
        case let file as FileBlobStore:
            let fd = open(file.path(of: id), O_RDWR)
            #expect(fd >= 0)
            defer { close(fd) }
            var byte: UInt8 = 0
            let at = lseek(fd, 0, SEEK_END) - 10
            #expect(pread(fd, &byte, 1, at) == 1)
            byte ^= 0xFF
            #expect(pwrite(fd, &byte, 1, at) == 1)
        case let postgres as PostgresBlobStore:
            let hex = id.description
            let table = postgres.configuration.table
            try SharedStoreServers.get().postgres.psql(
                "UPDATE \"\(table)\" SET content = set_byte(content, 10, 255 - get_byte(content, 10)) WHERE id = '\\x\(hex)'::bytea RETURNING 1"
            )
        case let s3 as S3BlobStore:
            // Rewrite the object with one byte flipped, keeping its metadata (and so its old digest).
            let object = try await s3.send("GET", key: s3.objectName(id), operation: "test")
            #expect(object.status == 200)
            var bytes = Array(object.body.readableBytesView)
            bytes[10] ^= 0xFF
            let metadata = object.headers.filter { $0.name.lowercased().hasPrefix("x-amz-meta-") }.map { ($0.name.lowercased(), $0.value) }
            let body = ByteBuffer(bytes: bytes)
            let rewritten = try await s3.send(
                "PUT", key: s3.objectName(id), headers: metadata, body: body,
                payloadHash: body.withUnsafeReadableBytes { SigV4Signer.sha256Hex($0) }, operation: "test")
            #expect(rewritten.status == 200)
        default:
            Issue.record("no way to damage a \(type(of: store))")
        }
    }
}

extension SharedStoreTests {
    /// The one contract every blob store passes: memory, file, PostgreSQL and S3 alike.
    @Suite("BlobStore contract")
    struct BlobStoreContractTests {
        @Test("put, get, bounded scans in id order with metadata, setExpiry and delete", arguments: StoreKind.allCases)
        func basics(kind: StoreKind) async throws {
            try await kind.withStore { store in
                let now = BlobTimestamp(millisecondsSince1970: 1_800_000_000_000)
                var ids: [BlobID] = []
                for i in 0..<10 {
                    let meta = BlobMetadata(createdAt: now, expiresAt: i % 2 == 0 ? now.advanced(by: .seconds(i)) : nil, ownerKey: i % 5 == 4 ? nil : CacheKey("owner:\(i)"))
                    ids.append(try await store.put(spillBytes(100 + i, seed: UInt8(i)), metadata: meta))
                }
                #expect(Set(ids).count == ids.count)
                for (i, id) in ids.enumerated() {
                    #expect(try await store.get(id) == spillBytes(100 + i, seed: UInt8(i)))
                }
                #expect(try await store.get(.random()) == nil)
                // Paging: bounded pages, in id order, covering everything exactly once.
                var seen: [BlobInfo] = []
                var cursor: BlobID?
                var pages = 0
                repeat {
                    let page = try await store.scan(after: cursor, limit: 3)
                    #expect(page.blobs.count <= 3)
                    seen += page.blobs
                    cursor = page.next
                    pages += 1
                } while cursor != nil && pages < 100
                #expect(seen.map(\.id) == ids.sorted())
                #expect(pages >= 4)
                for info in seen {
                    let i = ids.firstIndex(of: info.id)!
                    #expect(info.length == 100 + i)
                    #expect(info.metadata.createdAt == now)
                    #expect(info.metadata.ownerKey == (i % 5 == 4 ? nil : CacheKey("owner:\(i)")))
                    #expect(info.metadata.expiresAt == (i % 2 == 0 ? now.advanced(by: .seconds(i)) : nil))
                }
                #expect(try await store.setExpiry(ids[1], now))
                #expect(try await store.setExpiry(ids[2], nil))
                let after = try await store.scan(after: nil, limit: 100).blobs
                #expect(after.first { $0.id == ids[1] }?.metadata.expiresAt == now)
                #expect(after.first { $0.id == ids[2] }?.metadata.expiresAt == nil)
                #expect(after.first { $0.id == ids[1] }?.metadata.ownerKey == CacheKey("owner:1"), "setExpiry keeps the owner")
                #expect(try await store.get(ids[1]) == spillBytes(101, seed: 1), "setExpiry keeps the content")
                #expect(try await store.delete(ids[0]))
                #expect(try await store.delete(ids[0]) == false)
                #expect(try await store.get(ids[0]) == nil)
                #expect(try await store.setExpiry(ids[0], nil) == false)
                #expect(try await store.scan(after: nil, limit: 100).blobs.count == 9)
                // An empty value and a 2 MiB one.
                let empty = try await store.put(ByteBuffer(), metadata: BlobMetadata(createdAt: now))
                #expect(try await store.get(empty) == ByteBuffer())
                let big = try await store.put(spillBytes(2 << 20, seed: 77), metadata: BlobMetadata(createdAt: now))
                #expect(try await store.get(big) == spillBytes(2 << 20, seed: 77))
            }
        }

        @Test("expired blobs go in bounded batches where the store can (removeExpired), else the scan finds them", arguments: StoreKind.allCases)
        func expiryBatches(kind: StoreKind) async throws {
            try await kind.withStore { store in
                var expired: [BlobID] = []
                var live: [BlobID] = []
                for i in 0..<5 {
                    expired.append(try await store.put(spillBytes(50), metadata: BlobMetadata(createdAt: spillOrigin, expiresAt: spillOrigin.advanced(by: .seconds(i)))))
                }
                for i in 0..<3 {
                    live.append(try await store.put(spillBytes(50), metadata: BlobMetadata(createdAt: spillOrigin, expiresAt: i == 0 ? nil : spillOrigin.advanced(by: .seconds(600)))))
                }
                let at = spillOrigin.advanced(by: .seconds(10))
                if let first = try await store.removeExpired(before: at, limit: 2) {
                    #expect(kind == .postgres)
                    #expect(first == ExpiredRemoval(count: 2, bytes: 100))
                    #expect(try await store.removeExpired(before: at, limit: 2) == ExpiredRemoval(count: 2, bytes: 100))
                    #expect(try await store.removeExpired(before: at, limit: 2) == ExpiredRemoval(count: 1, bytes: 50))
                    #expect(try await store.removeExpired(before: at, limit: 2) == ExpiredRemoval(count: 0, bytes: 0))
                } else {
                    #expect(kind != .postgres, "PostgresBlobStore deletes expired blobs by its index")
                }
                // The sweeper gets the rest either way, and keeps the live ones.
                let report = try await Self.sweep(store, at: at)
                #expect(report.expired == (kind == .postgres ? 0 : 5))
                for id in expired { #expect(try await store.get(id) == nil) }
                for id in live { #expect(try await store.get(id) == spillBytes(50)) }
            }
        }

        @Test("through ValueSpill: a 1 MiB value round-trips, overwrite and delete release, a damaged blob is a counted corruption miss; the sweeper reclaims orphans", arguments: StoreKind.allCases)
        func throughValueSpill(kind: StoreKind) async throws {
            try await kind.withStore { store in
                try await Self.spillScenario(store, kind: kind)
            }
        }

        /// One sweep pass over `store` at wall-clock time `at`, in batches of two.
        static func sweep<S: BlobStore>(_ store: S, at: BlobTimestamp) async throws -> SweepReport {
            let clock = ManualClock()
            let sweeper = BlobSweeper(
                store: store, client: SpillTestClient(MemoryCache()), batchSize: 2, minimumAge: .seconds(3600), clock: clock,
                blobClock: BlobClock(clock: clock, origin: at))
            return try await sweeper.sweepOnce()
        }

        static func spillScenario<S: BlobStore>(_ store: S, kind: StoreKind) async throws {
            let base = MemoryCache(clock: ManualClock())
            let client = SpillTestClient(base)
            let metrics = SpillTestMetrics()
            let cache = ValueSpillTests.cache(client, store, metrics: metrics)
            let value = spillBytes(1 << 20, seed: 5)
            try await cache.set("shared:big", value: value, expiry: .after(.seconds(60)))
            #expect(try await cache.get("shared:big") == value)
            #expect(try await store.scan(after: nil, limit: 10).blobs.count == 1)
            try await cache.set("shared:big", value: spillBytes(5000, seed: 6))
            let blobs = try await store.scan(after: nil, limit: 10).blobs
            #expect(blobs.count == 1, "the overwritten blob was released")
            #expect(try await cache.get("shared:big") == spillBytes(5000, seed: 6))
            try await kind.corrupt(try #require(blobs.first?.id), in: store)
            #expect(try await cache.get("shared:big") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 1)
            #expect(try await cache.delete("shared:big"))
            #expect(try await store.scan(after: nil, limit: 10).blobs.isEmpty, "delete released the blob")
            // An orphan: the key is overwritten behind the spill's back.
            try await cache.set("shared:orphan", value: spillBytes(3000, seed: 8))
            _ = try await client.execute(.set("shared:orphan", ByteBuffer(string: "foreign"), SetOptions()))
            try await cache.set("shared:kept", value: spillBytes(3000, seed: 9))
            let sweeper = BlobSweeper(store: store, client: client, batchSize: 1, minimumAge: .zero, clock: ManualClock())
            let report = try await sweeper.sweepOnce()
            #expect(report.orphaned == 1)
            #expect(report.bytesReclaimed == 3000)
            #expect(try await cache.get("shared:kept") == spillBytes(3000, seed: 9))
        }
    }
}
