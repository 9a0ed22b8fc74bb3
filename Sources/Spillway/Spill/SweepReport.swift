/// What one pass of the ``BlobSweeper`` did.
public struct SweepReport: Sendable, Hashable, CustomStringConvertible {
    /// Blobs looked at.
    public var examined = 0
    /// Blobs deleted because their expiry had passed.
    public var expired = 0
    /// Blobs deleted because their key no longer pointed at them (evicted, expired, deleted or
    /// overwritten by a client that does not know Spillway).
    public var orphaned = 0
    /// Content bytes of the deleted blobs.
    public var bytesReclaimed = 0
    /// Blobs kept because they were younger than the minimum age (their pointer may be in flight).
    public var tooYoung = 0
    /// Deletes or key reads that failed; those blobs are tried again on the next pass.
    public var failures = 0
    /// Pages (batches) processed.
    public var batches = 0
    /// Leftovers of interrupted writes removed (temporary files of a ``FileBlobStore``).
    public var staleWritesRemoved = 0

    /// An empty report.
    public init() {}

    /// Blobs deleted, for any reason.
    public var deleted: Int { expired + orphaned }

    public var description: String {
        "examined \(examined), deleted \(deleted) (expired \(expired), orphaned \(orphaned)), reclaimed \(bytesReclaimed) bytes, kept \(tooYoung) too young, \(failures) failures, \(batches) batches, \(staleWritesRemoved) stale writes removed"
    }
}
