import Foundation
import NIOCore
import Spillway
import SpillwayTesting
import Testing

/// A blob store that cannot take a spilled value (full, over quota, read-only, unreachable) is a
/// classified failure (``FailureClass/storage``) that the route's ladder handles like OOM.
@Suite("Degrade: a full or unreachable blob store is shed like OOM")
struct StorageFailureTests {
    static let big = ByteBuffer(bytes: (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) })

    static func table(_ defaults: CachePolicy) -> PolicyTable {
        PolicyTable(defaults: defaults, prefixes: ["lock:": PolicyOverrides(onOOM: .fail)])
    }

    static func cache(_ client: any CacheClient, _ blobs: FaultyBlobStore<MemoryBlobStore>, _ policies: PolicyTable) -> GuardedCache<AnyCacheClient, _CacheMiddleware2<ValueSpill<FaultyBlobStore<MemoryBlobStore>>, Degrade<ManualClock>>> {
        GuardedCache(client: AnyCacheClient(client), policies: policies) {
            ValueSpill(store: blobs)
            Degrade<ManualClock>()
        }
    }

    @Test("every .blobStore error is the storage class; storage follows onOOM unless onFailure names it")
    func classification() {
        #expect(CacheError(.blobStore, "full").failureClass == .storage)
        #expect(CachePolicy(onOOM: .shed).action(for: .storage) == .shed)
        #expect(CachePolicy(onOOM: .fail).action(for: .storage) == .fail)
        #expect(CachePolicy(onOOM: .shed, onFailure: [.storage: .fail]).action(for: .storage) == .fail)
        #expect(CachePolicy(onOOM: .fail, onFailure: [.storage: .shed]).action(for: .storage) == .shed)
    }

    @Test("shed by default: a spilled set, NX set and mset on a full or unreachable store are .dropped, never thrown", arguments: TestBackend.allCases, [FaultyBlobStore<MemoryBlobStore>.Mode.full, .unavailable])
    func shedByDefault(backend: TestBackend, mode: FaultyBlobStore<MemoryBlobStore>.Mode) async throws {
        try await backend.withClient { client in try await Self.shedByDefault(client, mode) }
    }

    static func shedByDefault(_ client: any CacheClient, _ mode: FaultyBlobStore<MemoryBlobStore>.Mode) async throws {
        let memory = MemoryBlobStore(name: "s")
        let blobs = FaultyBlobStore(memory)
        let cache = Self.cache(client, blobs, Self.table(CachePolicy(spillAbove: 1024)))
        blobs.mode = mode
        #expect(try await cache.set("page:1", value: Self.big) == .dropped(.blobStore))
        #expect(try await cache.set("page:2", value: Self.big, expiry: .after(.seconds(60)), condition: .ifNotExists) == .dropped(.blobStore))
        #expect(try await cache.mset([KeyValue("page:3", ByteBuffer(string: "small")), KeyValue("page:4", Self.big)]) == .dropped(.blobStore))
        #expect(blobs.failures >= 3, "the store really refused")
        blobs.mode = .healthy
        #expect(await memory.count == 0, "no blob left behind")
        #expect(try await cache.get("page:1") == nil)
        #expect(try await cache.get("page:3") == nil, "a dropped mset stored none of its pairs")
        // Small values never touch the store and are stored whatever its state.
        blobs.mode = mode
        #expect(try await cache.set("page:5", value: ByteBuffer(string: "small")) == .stored)
    }

    @Test("fail: onOOM fail (a lock) or onFailure storage: fail throws the typed .blobStore error", arguments: TestBackend.allCases)
    func failThrows(backend: TestBackend) async throws {
        try await backend.withClient { client in try await Self.failThrows(client) }
    }

    static func failThrows(_ client: any CacheClient) async throws {
        let blobs = FaultyBlobStore(MemoryBlobStore(name: "s"))
        blobs.mode = .full
        let byPrefix = Self.cache(client, blobs, Self.table(CachePolicy(spillAbove: 1024)))
        await #expect(throws: CacheError.self) { try await byPrefix.set("lock:order:1", value: Self.big, condition: .ifNotExists) }
        let byClass = Self.cache(client, blobs, Self.table(CachePolicy(spillAbove: 1024, onOOM: .shed, onFailure: [.storage: .fail])))
        do throws(CacheError) {
            try await byClass.set("page:1", value: Self.big)
            Issue.record("a full store's write was not thrown under onFailure storage: fail")
        } catch {
            #expect(error.code == .blobStore)
            #expect(error.message == FaultyBlobStore<MemoryBlobStore>.fullMessage)
        }
        let overridden = Self.cache(client, blobs, Self.table(CachePolicy(spillAbove: 1024, onOOM: .fail, onFailure: [.storage: .shed])))
        #expect(try await overridden.set("page:2", value: Self.big) == .dropped(.blobStore))
    }

    @Test("a real full (ENOSPC) and read-only (EROFS) tmpfs: spilled writes are .dropped(.blobStore), stored values still read", arguments: TestBackend.allCases)
    func realTmpfs(backend: TestBackend) async throws {
        try await withTinyFilesystem { dir in
            let store = try FileBlobStore(root: dir + "/blobs", name: "tmpfs")
            try await backend.withClient { client in try await Self.fillTmpfs(AnyCacheClient(client), store, dir) }
        }
    }

    static func fillTmpfs(_ client: AnyCacheClient, _ store: FileBlobStore, _ dir: String) async throws {
        let cache = GuardedCache(client: client, policies: PolicyTable(defaults: CachePolicy(spillAbove: 1024))) {
            ValueSpill(store: store)
            Degrade<ManualClock>()
        }
        var outcomes: [WriteOutcome] = []
        for i in 0..<64 {
            outcomes.append(try await cache.set(CacheKey("disk:\(i)"), value: spillBytes(10_240, seed: UInt8(i))))
        }
        let stored = outcomes.prefix { $0 == .stored }.count
        #expect(stored > 0 && stored < 64, "some fit in 256 KiB, then the disk is full: \(stored) stored")
        #expect(outcomes.dropFirst(stored).allSatisfy { $0 == .dropped(.blobStore) }, "\(outcomes)")
        #expect(try store.count() == stored)
        #expect(try await cache.get("disk:0") == spillBytes(10_240, seed: 0))
        #expect(try await cache.get(CacheKey("disk:\(stored)")) == nil)

        #expect(runTool("/bin/mount", ["-o", "remount,ro", dir]))
        #expect(try await cache.set("disk:ro", value: spillBytes(2000)) == .dropped(.blobStore))
        #expect(try await cache.get("disk:0") == spillBytes(10_240, seed: 0), "reads of a read-only store work")
        #expect(runTool("/bin/mount", ["-o", "remount,rw", dir]))
    }
}

/// Runs `body` with a fresh 256 KiB tmpfs mounted on a temporary directory, unmounted after.
/// Records an issue (the test fails) when the platform does not allow the mount: the tests that
/// use it are about a real full disk, and a stand-in would not prove it.
func withTinyFilesystem(_ body: (String) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-tmpfs-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    guard runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]) else {
        Issue.record("cannot mount a tmpfs here (needs root): the full-disk test did not run")
        return
    }
    defer { _ = runTool("/bin/umount", [dir]) }
    try await body(dir)
}

/// Runs a tool and says whether it exited 0.
func runTool(_ tool: String, _ arguments: [String]) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    } catch {
        return false
    }
}
