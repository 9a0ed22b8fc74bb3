/// One blob as a store lists it: its id, size and metadata, without its bytes.
public struct BlobInfo: Sendable, Hashable {
    /// The blob's id.
    public var id: BlobID
    /// The content's length in bytes.
    public var length: Int
    /// The blob's metadata.
    public var metadata: BlobMetadata

    /// Creates an entry.
    public init(id: BlobID, length: Int, metadata: BlobMetadata) {
        self.id = id
        self.length = length
        self.metadata = metadata
    }
}
