/// The backend contract: anything that can execute a ``CacheOperation``.
///
/// A backend implements it once. It must classify every failure as a ``CacheError`` with the
/// right ``CacheError/Code`` (an OOM reply is `.outOfMemory`, a timeout is `.timeout`), so that
/// nothing upstream parses message strings.
public protocol CacheClient: Sendable {
    /// Executes one operation.
    /// - Throws: ``CacheError``, classified.
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply

    /// What this backend can do natively.
    var capabilities: CacheCapabilities { get }

    /// The backend's memory use, for the pressure monitor and the demo.
    /// - Throws: ``CacheError`` when the backend cannot be asked.
    func memoryStats() async throws(CacheError) -> CacheMemoryStats
}

/// Native abilities of a backend, so middleware can choose the best strategy.
public struct CacheCapabilities: Sendable, Hashable {
    /// `SET … GET` is atomic on this backend (used to release an overwritten spilled blob).
    public var atomicSetReturningPrevious: Bool
    /// The backend runs a GCRA step atomically.
    public var atomicThrottle: Bool
    /// The largest value the backend stores, in bytes.
    public var maxValueBytes: Int
    /// The backend can return only the head (the first bytes) of a key's previous value,
    /// atomically with a `set` (``SetOptions/previousHeadBytes``), a delete
    /// (``CacheOperation/deleteReturningHead(_:headBytes:)``), an expire
    /// (``CacheOperation/expireReturningHead(_:ttl:headBytes:)``) or an `mset`
    /// (``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``). The spill then finds an old
    /// pointer in one round trip without transferring old values.
    public var returnsPreviousHead: Bool

    /// Creates a capability set.
    public init(
        atomicSetReturningPrevious: Bool = true, atomicThrottle: Bool = true, maxValueBytes: Int = 512 * 1024 * 1024,
        returnsPreviousHead: Bool = false
    ) {
        self.atomicSetReturningPrevious = atomicSetReturningPrevious
        self.atomicThrottle = atomicThrottle
        self.maxValueBytes = maxValueBytes
        self.returnsPreviousHead = returnsPreviousHead
    }
}

/// A backend's memory figures (Redis `INFO memory`).
public struct CacheMemoryStats: Sendable, Hashable {
    /// Bytes in use, as the backend counts them (`used_memory`).
    public var usedBytes: Int
    /// The limit (`maxmemory`), or `nil` when there is none.
    public var maxBytes: Int?
    /// Number of keys.
    public var keyCount: Int

    /// Creates stats.
    public init(usedBytes: Int, maxBytes: Int?, keyCount: Int) {
        self.usedBytes = usedBytes
        self.maxBytes = maxBytes
        self.keyCount = keyCount
    }

    /// `usedBytes / maxBytes`, or `nil` without a limit.
    public var fillRatio: Double? {
        guard let maxBytes, maxBytes > 0 else { return nil }
        return Double(usedBytes) / Double(maxBytes)
    }
}
