import Foundation
import NIOCore
import Spillway
import SpillwayTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("FileBlobStore")
struct FileBlobStoreTests {
    /// Runs `body` with a store in a fresh temporary directory, removed afterwards.
    static func withStore<R>(_ body: (FileBlobStore) async throws -> R) async throws -> R {
        let store = try FileBlobStore.temporary()
        defer { try? store.removeAll() }
        return try await body(store)
    }

    // put, get, scan, setExpiry, delete and expiry batches: the shared contract every store
    // passes (BlobStoreContractTests, with memory, file, PostgreSQL and S3).

    @Test("files sit in sharded directories named only by the id; no temporary file is left; count and totalBytes")
    func layout() async throws {
        try await Self.withStore { store in
            var ids: [BlobID] = []
            for i in 0..<40 {
                ids.append(try await store.put(spillBytes(100 + i, seed: UInt8(i)), metadata: BlobMetadata(createdAt: spillOrigin, ownerKey: CacheKey("owner:\(i)"))))
            }
            for id in ids {
                let path = store.path(of: id)
                #expect(path == store.root + "/" + id.description.prefix(2) + "/" + id.description + ".blob")
                #expect(FileManager.default.fileExists(atPath: path))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty, "no temporary files left")
            #expect(try store.count() == 40)
            #expect(try store.totalBytes() > (100...139).reduce(0, +))
            #expect(try await store.delete(ids[0]))
            #expect(try store.count() == 39)
            #expect(!FileManager.default.fileExists(atPath: store.path(of: ids[0])))
        }
    }

    @Test("through ValueSpill: a 1 MiB value round-trips, and one flipped byte in the file is a miss counted as corruption")
    func flippedByte() async throws {
        try await Self.withStore { store in
            let client = SpillTestClient(MemoryCache())
            let metrics = SpillTestMetrics()
            let cache = ValueSpillTests.cache(client, store, metrics: metrics)
            let value = spillBytes(1 << 20)
            try await cache.set("file:big", value: value, expiry: .after(.seconds(60)))
            #expect(try await cache.get("file:big") == value)
            let id = try #require(try await store.scan(after: nil, limit: 10).blobs.first?.id)
            let fd = open(store.path(of: id), O_RDWR)
            #expect(fd >= 0)
            var byte: UInt8 = 0
            let size = lseek(fd, 0, SEEK_END)
            #expect(pread(fd, &byte, 1, size - 1000) == 1)
            byte ^= 0x01
            #expect(pwrite(fd, &byte, 1, size - 1000) == 1)
            close(fd)
            #expect(try await cache.get("file:big") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 1)
            // A truncated file is corruption too.
            #expect(truncate(store.path(of: id), 20) == 0)
            #expect(try await cache.get("file:big") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 2)
            // Deleting the key releases the file.
            #expect(try await cache.delete("file:big"))
            #expect(try store.count() == 0)
        }
    }

    @Test("the shared ValueSpill behaviours hold on FileBlobStore: threshold, overwrite, delete, OOM rollback", arguments: TestBackend.allCases)
    func sharedBehaviours(backend: TestBackend) async throws {
        try await Self.withStore { store in
            try await backend.withClient(maxMemory: 256 * 1024, policy: .noEviction) { base in
                let client = SpillTestClient(base)
                let cache = ValueSpillTests.cache(client, store)
                for size in [1023, 1024, 1025] {
                    try await cache.set(CacheKey("f:\(size)"), value: spillBytes(size))
                    #expect(try await cache.get(CacheKey("f:\(size)")) == spillBytes(size))
                }
                #expect(try store.count() == 1)
                try await cache.set("f:1025", value: spillBytes(2000, seed: 3))
                #expect(try store.count() == 1)
                try await cache.delete("f:1025")
                #expect(try store.count() == 0)
                #expect(try await fillUntilOOM(client, prefix: "fill:", valueBytes: 1000) > 0)
                await #expect(throws: CacheError.self) { try await cache.set("f:oom", value: spillBytes(100_000)) }
                #expect(try store.count() == 0, "the blob of the refused pointer is gone")
                #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty)
            }
        }
    }

    @Test("a full disk gives a typed .blobStore error naming the errno, and leaves no file behind")
    func fullDisk() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-tmpfs-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        if runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]) {
            // A real tiny filesystem.
            defer { _ = runTool("/bin/umount", [dir]) }
            let store = try FileBlobStore(root: dir + "/blobs")
            // `storage: fail`, to see the error itself (by default the write is shed).
            let cache = ValueSpillTests.cache(
                SpillTestClient(MemoryCache()), store,
                policies: PolicyTable(defaults: CachePolicy(spillAbove: ValueSpillTests.threshold, onFailure: [.storage: .fail]))
            )
            try await cache.set("disk:1", value: spillBytes(100_000))
            do throws(CacheError) {
                try await cache.set("disk:2", value: spillBytes(200_000))
                Issue.record("a full tmpfs accepted the blob")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.message.contains("ENOSPC"), "\(error)")
                #expect((error.underlying as? BlobIOError)?.errnoName == "ENOSPC")
            }
            #expect(try store.count() == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/blobs/tmp").isEmpty, "the partial temporary file was removed")
            #expect(try await cache.get("disk:1") == spillBytes(100_000))
            #expect(try await cache.get("disk:2") == nil)
            // Read-only: EROFS, typed, even for root.
            #expect(runTool("/bin/mount", ["-o", "remount,ro", dir]))
            do throws(CacheError) {
                _ = try await store.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                Issue.record("a read-only store accepted a blob")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.message.contains("EROFS"), "\(error)")
            }
        } else {
            // No permission to mount here: inject the write failure by making the store's
            // temporary directory unusable, and check the same typed error.
            let store = try FileBlobStore(root: dir + "/blobs")
            try FileManager.default.removeItem(atPath: dir + "/blobs/tmp")
            _ = FileManager.default.createFile(atPath: dir + "/blobs/tmp", contents: Data())
            do throws(CacheError) {
                _ = try await store.put(spillBytes(10), metadata: BlobMetadata(createdAt: spillOrigin))
                Issue.record("a broken store accepted a blob")
            } catch {
                #expect(error.code == .blobStore)
                #expect(error.message.contains("ENOTDIR"), "\(error)")
            }
        }
    }

    @Test("temporary files of interrupted writes are removed once old, fresh ones are kept; the sweeper does it too")
    func staleWrites() async throws {
        try await Self.withStore { store in
            let old = store.root + "/tmp/" + BlobID.random().description + ".tmp"
            let fresh = store.root + "/tmp/" + BlobID.random().description + ".tmp"
            _ = FileManager.default.createFile(atPath: old, contents: Data("partial".utf8))
            _ = FileManager.default.createFile(atPath: fresh, contents: Data("partial".utf8))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: old)
            let sweeper = BlobSweeper(store: store, client: SpillTestClient(MemoryCache()), minimumAge: .zero, clock: ManualClock())
            let report = try await sweeper.sweepOnce()
            #expect(report.staleWritesRemoved == 1)
            #expect(!FileManager.default.fileExists(atPath: old))
            #expect(FileManager.default.fileExists(atPath: fresh))
            #expect(try await store.removeStaleWrites(olderThan: .zero) == 1)
            #expect(try await MemoryBlobStore().removeStaleWrites(olderThan: .zero) == 0)
        }
    }

    @Test("with syncDirectories the shard directory is synced too, and blobs round-trip the same")
    func syncedDirectories() async throws {
        let plain = try FileBlobStore.temporary()
        defer { try? plain.removeAll() }
        let store = try FileBlobStore(root: plain.root, name: "synced", syncDirectories: true)
        #expect(store.syncDirectories)
        #expect(!plain.syncDirectories)
        let id = try await store.put(spillBytes(70_000), metadata: BlobMetadata(createdAt: spillOrigin))
        #expect(try await store.get(id) == spillBytes(70_000))
        #expect(try await plain.get(id) == spillBytes(70_000), "same files, same layout")
    }

    @Test("a root that cannot be a directory is a typed error at init")
    func badRoot() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-file-\(UInt32.random(in: 0...UInt32.max))").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        do throws(CacheError) {
            _ = try FileBlobStore(root: file)
            Issue.record("a regular file was accepted as a root")
        } catch {
            #expect(error.code == .blobStore)
        }
        do throws(CacheError) {
            _ = try FileBlobStore(root: file + "/sub")
            Issue.record("a path under a regular file was accepted as a root")
        } catch {
            #expect(error.code == .blobStore)
            #expect(error.message.contains("ENOTDIR"), "\(error)")
        }
    }

    @Test("a root another user could write to is refused with a typed error: group- or world-writable, or owned by another user")
    func unsafeRoots() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-root-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func refusal(_ path: String) -> BlobStoreRootError? {
            do throws(CacheError) {
                _ = try FileBlobStore(root: path)
                return nil
            } catch {
                #expect(error.code == .invalidArgument, "\(error)")
                return error.underlying as? BlobStoreRootError
            }
        }
        #expect(chmod(dir, 0o777) == 0)
        let open = try #require(refusal(dir), "a 0777 root was accepted")
        #expect(Set(open.reasons) == [.groupWritable, .worldWritable])
        #expect(open.mode == 0o777)
        #expect(chmod(dir, 0o770) == 0)
        #expect(refusal(dir)?.reasons == [.groupWritable])
        #expect(chmod(dir, 0o700) == 0)
        #expect(refusal(dir) == nil, "a 0700 root of this user is accepted")
        // A tmp directory that was opened up later is refused too.
        #expect(chmod(dir + "/tmp", 0o777) == 0)
        #expect(refusal(dir)?.path == dir + "/tmp")
        #expect(chmod(dir + "/tmp", 0o700) == 0)
        if geteuid() == 0 {
            // Running as root: hand the directory to another user.
            #expect(chown(dir, 65534, 65534) == 0)
            #expect(refusal(dir)?.reasons == [.ownedByAnotherUser])
        }
    }

    @Test("a symlink inside the store is never followed: not for a blob (get, setExpiry), not for a shard directory")
    func symlinksNotFollowed() async throws {
        try await Self.withStore { store in
            let outside = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-outside-\(UInt32.random(in: 0...UInt32.max))").path
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: outside) }
            let id = try await store.put(spillBytes(5000), metadata: BlobMetadata(createdAt: spillOrigin))
            let file = store.path(of: id)
            // A victim file outside the store that holds a valid blob record.
            let victim = outside + "/victim.blob"
            try FileManager.default.copyItem(atPath: file, toPath: victim)
            let before = try Data(contentsOf: URL(fileURLWithPath: victim))
            try FileManager.default.removeItem(atPath: file)
            try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: victim)
            do throws(CacheError) {
                let read = try await store.get(id)
                Issue.record("a symlinked blob was read: \(read?.readableBytes ?? -1) bytes")
            } catch {
                #expect(error.code == .corruption, "\(error)")
            }
            do throws(CacheError) {
                _ = try await store.setExpiry(id, spillOrigin)
                Issue.record("setExpiry wrote through a symlink")
            } catch {
                #expect(error.code == .corruption, "\(error)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == before, "the file behind the link is untouched")
            // Through ValueSpill, the read is a miss counted as corruption, never the bytes.
            let metrics = SpillTestMetrics()
            let client = SpillTestClient(MemoryCache())
            let cache = GuardedCache(client: client, policies: spillPolicies(threshold: 1024)) { ValueSpill(store: store, metricsFactory: metrics) }
            try await cache.set("link", value: spillBytes(3000, seed: 9))
            let linked = try #require(await Self.onlyOtherBlob(store, than: id))
            try FileManager.default.removeItem(atPath: store.path(of: linked))
            try FileManager.default.createSymbolicLink(atPath: store.path(of: linked), withDestinationPath: victim)
            #expect(try await cache.get("link") == nil)
            #expect(metrics.total("spillway_blob_corruption_total") == 1)
            // Deleting removes the link, not the file it points at.
            #expect(try await store.delete(id))
            #expect(FileManager.default.fileExists(atPath: victim))
            // A shard directory replaced by a symlink to a directory holding the blob is refused.
            let shard = (store.path(of: linked) as NSString).deletingLastPathComponent
            let elsewhere = outside + "/shard"
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
            try FileManager.default.copyItem(atPath: victim, toPath: elsewhere + "/" + (store.path(of: linked) as NSString).lastPathComponent)
            try FileManager.default.removeItem(atPath: shard)
            try FileManager.default.createSymbolicLink(atPath: shard, withDestinationPath: elsewhere)
            do throws(CacheError) {
                let read = try await store.get(linked)
                Issue.record("a blob was read through a symlinked shard directory: \(read?.readableBytes ?? -1) bytes")
            } catch {
                #expect(error.code == .blobStore)
                #expect([ELOOP, ENOTDIR].contains((error.underlying as? BlobIOError)?.errno ?? 0), "\(error)")
            }
            try FileManager.default.removeItem(atPath: shard)
        }
    }

    /// The one blob in `store` other than `id`.
    static func onlyOtherBlob(_ store: FileBlobStore, than id: BlobID) async throws -> BlobID? {
        try await store.scan(after: nil, limit: 100).blobs.map(\.id).first { $0 != id }
    }
}
