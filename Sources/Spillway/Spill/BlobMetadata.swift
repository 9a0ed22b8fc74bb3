/// What a blob store keeps beside a blob's bytes.
public struct BlobMetadata: Sendable, Hashable {
    /// When the blob was written.
    public var createdAt: BlobTimestamp
    /// When the blob may be deleted regardless of its key (the key's TTL plus grace), or `nil`
    /// when it lives as long as its key points at it.
    public var expiresAt: BlobTimestamp?
    /// The cache key (as it reaches the backend, after the key guard) whose pointer owns the
    /// blob. The sweeper reads it to find blobs that no key points at any more.
    public var ownerKey: CacheKey?

    /// Creates metadata.
    public init(createdAt: BlobTimestamp, expiresAt: BlobTimestamp? = nil, ownerKey: CacheKey? = nil) {
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.ownerKey = ownerKey
    }
}
