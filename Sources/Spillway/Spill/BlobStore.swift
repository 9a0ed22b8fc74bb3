public import NIOCore

/// Where spilled values live: a store of immutable blobs named by random ids.
///
/// Every failure is a ``CacheError``: an I/O failure (disk full, permission denied, store
/// unreachable) is `.blobStore` and names the cause; stored bytes that cannot be parsed are
/// `.corruption`. A missing blob is not an error: ``get(_:)`` returns `nil`.
public protocol BlobStore: Sendable {
    /// The store's name, written into every pointer (1 to 255 UTF-8 bytes). A pointer naming
    /// another store is not resolved here.
    var name: String { get }

    /// Stores `content` under a fresh random id.
    /// - Returns: the new blob's id.
    /// - Throws: `.blobStore` when the store cannot keep it (full, unwritable).
    func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID

    /// Reads a blob's content.
    /// - Returns: the bytes, or `nil` when there is no such blob.
    /// - Throws: `.blobStore` on an I/O failure, `.corruption` when the stored record is unreadable.
    func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer?

    /// Deletes a blob.
    /// - Returns: whether it existed.
    /// - Throws: `.blobStore` on an I/O failure.
    @discardableResult
    func delete(_ id: BlobID) async throws(CacheError) -> Bool

    /// Changes a blob's expiry (after the key's TTL changed).
    /// - Returns: whether the blob exists.
    /// - Throws: `.blobStore` on an I/O failure.
    @discardableResult
    func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool

    /// Lists blobs in id order, after `cursor` (from the start when `nil`), at most `limit`.
    /// - Throws: `.blobStore` on an I/O failure.
    func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage

    /// Removes leftovers of writes that never finished (a crash between writing and renaming),
    /// older than `age`. Stores without such leftovers keep the default, which does nothing.
    /// - Returns: how many were removed.
    /// - Throws: `.blobStore` on an I/O failure.
    func removeStaleWrites(olderThan age: Duration) async throws(CacheError) -> Int

    /// Deletes at most `limit` blobs whose expiry is at or before `now`, in one bounded batch,
    /// where the store can find them without a listing (a database's index). ``BlobSweeper``
    /// calls it until a batch comes back short, before it scans for orphans.
    /// - Returns: what was deleted, or `nil` (the default) when the store cannot do this: the
    ///   sweeper then finds expired blobs in its scan.
    /// - Throws: `.blobStore` on an I/O failure.
    func removeExpired(before now: BlobTimestamp, limit: Int) async throws(CacheError) -> ExpiredRemoval?
}

extension BlobStore {
    /// Does nothing: the store leaves no partial writes behind.
    public func removeStaleWrites(olderThan age: Duration) async throws(CacheError) -> Int { 0 }

    /// Returns `nil`: the store has no index of expiries; the sweeper's scan finds them.
    public func removeExpired(before now: BlobTimestamp, limit: Int) async throws(CacheError) -> ExpiredRemoval? { nil }
}
