import NIOCore
import Spillway
import Synchronization

/// A blob store that remembers the blobs written through it and not deleted since, so that a
/// command running against a shared store (`--blob-store postgres://…`, `s3://…`) can report
/// the blobs and bytes its run left and delete them afterwards, without listing a store that
/// other instances use. With `ownBlobsOnly`, ``scan(after:limit:)`` lists only those blobs, so
/// that a ``BlobSweeper`` over the wrapper never takes another instance's blobs for orphans.
///
/// A put that the store kept but answered with an error (a timeout) is not remembered, and its
/// blob is left to the store's own sweeper.
struct TrackedBlobStore<Base: BlobStore>: BlobStore {
    /// The store written to.
    let base: Base
    /// Whether scans list only the blobs written through this wrapper.
    let ownBlobsOnly: Bool
    private let state = TrackedBlobs()

    /// Wraps `base`; the name is `base`'s.
    init(_ base: Base, ownBlobsOnly: Bool = false) {
        self.base = base
        self.ownBlobsOnly = ownBlobsOnly
    }

    var name: String { base.name }

    /// The blobs written and not deleted since, and their bytes.
    var figures: (count: Int, bytes: Int) {
        state.live.withLock { ($0.count, $0.values.reduce(0, +)) }
    }

    /// How many puts succeeded.
    var putCount: Int { state.puts.load(ordering: .relaxed) }

    /// Deletes every blob written through this wrapper and not deleted since.
    /// - Returns: how many it deleted.
    /// - Throws: the store's error.
    @discardableResult
    func deleteWritten() async throws(CacheError) -> Int {
        let ids = state.live.withLock { Array($0.keys) }
        var deleted = 0
        for id in ids where try await delete(id) { deleted += 1 }
        return deleted
    }

    func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        let id = try await base.put(content, metadata: metadata)
        state.puts.add(1, ordering: .relaxed)
        state.live.withLock { $0[id] = content.readableBytes }
        return id
    }

    func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? { try await base.get(id) }

    @discardableResult
    func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        let deleted = try await base.delete(id)
        state.live.withLock { _ = $0.removeValue(forKey: id) }
        return deleted
    }

    @discardableResult
    func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool { try await base.setExpiry(id, expiresAt) }

    func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
        let page = try await base.scan(after: cursor, limit: limit)
        guard ownBlobsOnly else { return page }
        let own = state.live.withLock { live in page.blobs.filter { live[$0.id] != nil } }
        return BlobScanPage(blobs: own, next: page.next)
    }

    func removeStaleWrites(olderThan age: Duration) async throws(CacheError) -> Int { try await base.removeStaleWrites(olderThan: age) }

    func removeExpired(before now: BlobTimestamp, limit: Int) async throws(CacheError) -> ExpiredRemoval? {
        try await base.removeExpired(before: now, limit: limit)
    }
}

/// The blobs a ``TrackedBlobStore`` wrote, shared by its copies.
final class TrackedBlobs: Sendable {
    /// Live blobs and their lengths.
    let live = Mutex<[BlobID: Int]>([:])
    /// Successful puts.
    let puts = Atomic(0)
}
