public import NIOCore
public import Spillway
internal import Synchronization

/// A ``BlobStore`` wrapper that fails on command, for testing what a spill does when its store
/// is down or full. Healthy, it forwards everything to the store it wraps.
///
/// ```swift
/// let blobs = FaultyBlobStore(MemoryBlobStore())
/// blobs.mode = .full          // puts fail: "No space left on device"
/// blobs.mode = .unavailable   // everything fails
/// blobs.mode = .healthy
/// ```
public final class FaultyBlobStore<Base: BlobStore>: BlobStore {
    /// How the store behaves.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Forward everything.
        case healthy
        /// Every call throws `.blobStore` (the store is unreachable).
        case unavailable
        /// `put` throws `.blobStore` (no space left); reads, deletes and listings work.
        case full
    }

    /// The text of an unavailable store's error.
    public static var unavailableMessage: String { "blob store unavailable: Connection refused" }
    /// The text of a full store's error (the operating system's `ENOSPC` text).
    public static var fullMessage: String { "blob store full: No space left on device" }

    /// The wrapped store.
    public let base: Base
    private let state = Mutex((mode: Mode.healthy, failures: 0))

    /// Wraps a store, healthy at first.
    public init(_ base: Base) { self.base = base }

    /// How the store behaves now.
    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set { state.withLock { $0.mode = newValue } }
    }

    /// How many calls failed on purpose.
    public var failures: Int { state.withLock { $0.failures } }

    /// The wrapped store's name.
    public var name: String { base.name }

    private func check(isPut: Bool) throws(CacheError) {
        let mode = state.withLock { s -> Mode in
            if s.mode == .unavailable || (s.mode == .full && isPut) { s.failures += 1 }
            return s.mode
        }
        switch mode {
        case .healthy: return
        case .unavailable: throw CacheError(.blobStore, Self.unavailableMessage)
        case .full: if isPut { throw CacheError(.blobStore, Self.fullMessage) }
        }
    }

    /// Stores a blob in the wrapped store.
    /// - Throws: `.blobStore` when unavailable or full, else what the wrapped store throws.
    public func put(_ content: ByteBuffer, metadata: BlobMetadata) async throws(CacheError) -> BlobID {
        try check(isPut: true)
        return try await base.put(content, metadata: metadata)
    }

    /// Reads a blob from the wrapped store.
    /// - Throws: `.blobStore` when unavailable, else what the wrapped store throws.
    public func get(_ id: BlobID) async throws(CacheError) -> ByteBuffer? {
        try check(isPut: false)
        return try await base.get(id)
    }

    /// Deletes a blob from the wrapped store.
    /// - Throws: `.blobStore` when unavailable, else what the wrapped store throws.
    @discardableResult
    public func delete(_ id: BlobID) async throws(CacheError) -> Bool {
        try check(isPut: false)
        return try await base.delete(id)
    }

    /// Moves a blob's expiry in the wrapped store.
    /// - Throws: `.blobStore` when unavailable, else what the wrapped store throws.
    @discardableResult
    public func setExpiry(_ id: BlobID, _ expiresAt: BlobTimestamp?) async throws(CacheError) -> Bool {
        try check(isPut: false)
        return try await base.setExpiry(id, expiresAt)
    }

    /// Deletes the wrapped store's expired blobs in a batch, where it can.
    /// - Throws: `.blobStore` when unavailable, else what the wrapped store throws.
    public func removeExpired(before now: BlobTimestamp, limit: Int) async throws(CacheError) -> ExpiredRemoval? {
        try check(isPut: false)
        return try await base.removeExpired(before: now, limit: limit)
    }

    /// Lists the wrapped store.
    /// - Throws: `.blobStore` when unavailable, else what the wrapped store throws.
    public func scan(after cursor: BlobID?, limit: Int) async throws(CacheError) -> BlobScanPage {
        try check(isPut: false)
        return try await base.scan(after: cursor, limit: limit)
    }
}
