/// What one bounded batch of ``BlobStore/removeExpired(before:limit:)`` deleted.
public struct ExpiredRemoval: Sendable, Hashable {
    /// Blobs deleted.
    public var count: Int
    /// Their content bytes.
    public var bytes: Int

    /// Creates a result.
    public init(count: Int, bytes: Int) {
        self.count = count
        self.bytes = bytes
    }
}
