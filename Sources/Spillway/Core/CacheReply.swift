public import NIOCore

/// What comes back up the chain for a ``CacheOperation``.
public enum CacheReply: Sendable {
    /// The value of a `get` (`nil` is a miss).
    case value(ByteBuffer?)
    /// The values of an `mget`, one per key, in order.
    case values([ByteBuffer?])
    /// The result of a `set` or `mset`.
    case write(WriteResult)
    /// A count (keys removed by `delete`).
    case count(Int)
    /// A yes/no answer (`exists`, `expire`).
    case bool(Bool)
    /// The new value of an `increment`.
    case integer(Int64)
    /// A rate-limit decision.
    case throttle(GCRADecision)
    /// The reply of ``CacheOperation/deleteReturningHead(_:headBytes:)`` and
    /// ``CacheOperation/expireReturningHead(_:ttl:headBytes:)``: whether the key was removed (or
    /// existed), and at most the requested number of leading bytes of the value it held before
    /// (`nil` when it held no string value).
    case headed(Bool, previousHead: ByteBuffer?)
}

/// The result of a write.
public struct WriteResult: Sendable {
    /// What happened to the write.
    public var outcome: WriteOutcome
    /// The previous value, when ``SetOptions/returnPrevious`` was asked for and the backend had
    /// one (only its head when ``SetOptions/previousHeadBytes`` was given and the backend
    /// honours it). For a write that was `.dropped` or `.storedLocally`, it is the value that
    /// ``Degrade`` deleted so that it would not be read back, when there was one.
    public var previous: ByteBuffer?
    /// For ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``: the head of the value each
    /// key held before the write, one entry per pair, in order (`nil` for a key that held no
    /// string value). For a write that was `.dropped` or `.storedLocally`, the heads of the values
    /// that ``Degrade`` deleted (when the backend returns heads). Empty for other writes.
    public var previousHeads: [ByteBuffer?]

    /// Creates a result.
    @inlinable
    public init(_ outcome: WriteOutcome, previous: ByteBuffer? = nil, previousHeads: [ByteBuffer?] = []) {
        self.outcome = outcome
        self.previous = previous
        self.previousHeads = previousHeads
    }
}

/// What happened to a write. Degradation never hides a lost write: it reports it here.
public enum WriteOutcome: Sendable, Hashable {
    /// The backend stored the value.
    case stored
    /// The write's condition (`NX`/`XX`) was not met; nothing changed.
    case conditionNotMet
    /// The write was dropped on purpose, for the given failure (policy `shed`). Nothing was stored.
    case dropped(CacheError.Code)
    /// The backend refused the write for the given failure, and the value was kept in this
    /// process's bounded fallback store (policy `fallback`).
    case storedLocally(CacheError.Code)

    /// Whether the value can be read back (from the backend or the local fallback).
    public var isReadable: Bool {
        switch self {
        case .stored, .storedLocally: true
        case .conditionNotMet, .dropped: false
        }
    }
}
