public import NIOCore

/// A blob store in this process's memory, for tests and demos.
///
/// With a ``capacityBytes`` it behaves like a full disk: a `put` that would exceed the capacity
/// throws `.blobStore` naming `ENOSPC`, and stores nothing. ``corrupt(_:byteAt:)`` and
/// ``failPuts`` let tests inject damage and faults.
public actor MemoryBlobStore: BlobStore {
    /// The store's name, written into pointers.
    public nonisolated let name: String
    /// The most content bytes the store holds, or `nil` for no limit.
    public private(set) var capacityBytes: Int?
    /// When set, every `put` throws this error (an injected write failure).
    package var failPuts: CacheError?

    private var blobs: [BlobID: (content: ByteBuffer, metadata: BlobMetadata)] = [:]

    /// The content bytes held.
    public private(set) var totalBytes = 0

    /// Creates an empty store.
    /// - Parameters:
    ///   - name: the store's name (1 to 255 UTF-8 bytes).
    ///   - capacityBytes: the most content bytes it holds, to simulate a full disk.
    public init(name: String = "memory", capacityBytes: Int? = nil) {
        self.name = name
        self.capacityBytes = capacityBytes
    }

    /// The number of blobs held.
    public var count: Int { blobs.count }

    /// All ids held, in order (a test hook).
    package var ids: [BlobID] { blobs.keys.sorted() }

    /// Sets or clears the injected `put` failure.
    package func setFailPuts(_ error: CacheError?) { failPuts = error }

    /// The metadata of a blob, or `nil` when there is none.
    public func metadata(of id: BlobID) -> BlobMetadata? { blobs[id]?.metadata }

    /// Flips every bit of one content byte, to simulate corruption (for tests).
    /// - Returns: whether the blob exists and has such a byte.
    @discardableResult
    package func corrupt(_ id: BlobID, byteAt offset: Int = 0) -> Bool {
        guard var entry = blobs[id], offset >= 0, offset < entry.content.readableBytes else { return false }
        let index = entry.content.readerIndex + offset
        let byte = entry.content.getInteger(at: index, as: UInt8.self)!
        var copy = ByteBuffer(bytes: entry.content.readableBytesView)
        copy.setInteger(~byte, at: offset)
        entry.content = copy
        blobs[id] = entry
        return true
    }

    public func put(_ content: ByteBuffer, metadata: BlobMetadata) throws(CacheError) -> BlobID {
        if let failPuts { throw failPuts }
        let size = content.readableBytes
        if let capacityBytes, totalBytes + size > capacityBytes {
            throw CacheError(
                .blobStore,
                "memory blob store '\(name)' is full: ENOSPC (\(totalBytes) of \(capacityBytes) bytes used, \(size) more asked)",
                underlying: BlobIOError(errno: BlobIOError.ENOSPC, operation: "put", path: "memory:\(name)")
            )
        }
        var id = BlobID.random()
        while blobs[id] != nil { id = BlobID.random() }
        blobs[id] = (content, metadata)
        totalBytes += size
        return id
    }

    public func get(_ id: BlobID) -> ByteBuffer? { blobs[id]?.content }

    @discardableResult
    public func delete(_ id: BlobID) -> Bool {
        guard let entry = blobs.removeValue(forKey: id) else { return false }
        totalBytes -= entry.content.readableBytes
        return true
    }

    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) -> Bool {
        guard blobs[id] != nil else { return false }
        blobs[id]!.metadata.expiresAt = expiresAt
        return true
    }

    public func scan(after cursor: BlobID?, limit: Int) -> BlobScanPage {
        let limit = max(1, limit)
        let sorted = blobs.keys.filter { cursor == nil || $0 > cursor! }.sorted()
        let page = sorted.prefix(limit).map { id in
            BlobInfo(id: id, length: blobs[id]!.content.readableBytes, metadata: blobs[id]!.metadata)
        }
        return BlobScanPage(blobs: page, next: sorted.count > limit ? page.last?.id : nil)
    }
}
