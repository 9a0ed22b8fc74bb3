/// One bounded page of a blob store listing, in id order.
public struct BlobScanPage: Sendable {
    /// The blobs of this page (at most the limit asked for).
    public var blobs: [BlobInfo]
    /// The cursor for the next page, or `nil` when the listing is complete.
    public var next: BlobID?

    /// Creates a page.
    public init(blobs: [BlobInfo], next: BlobID?) {
        self.blobs = blobs
        self.next = next
    }
}
