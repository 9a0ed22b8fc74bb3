public import Spillway

/// The kinds of ``CacheOperation`` a fault rule can be scoped to.
public enum FaultOperationKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// ``CacheOperation/get(_:)``.
    case get
    /// ``CacheOperation/set(_:_:_:)``.
    case set
    /// ``CacheOperation/delete(_:)`` and ``CacheOperation/deleteReturningHead(_:headBytes:)``.
    case delete
    /// ``CacheOperation/exists(_:)``.
    case exists
    /// ``CacheOperation/increment(_:by:ttlOnCreate:)``.
    case increment
    /// ``CacheOperation/expire(_:ttl:)`` and ``CacheOperation/expireReturningHead(_:ttl:headBytes:)``.
    case expire
    /// ``CacheOperation/mget(_:)``.
    case mget
    /// ``CacheOperation/mset(_:ttl:)`` and ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``.
    case mset
    /// ``CacheOperation/throttle(_:_:)``.
    case throttle

    /// The kind of an operation.
    @inlinable
    public init(_ operation: CacheOperation) {
        switch operation {
        case .get: self = .get
        case .set: self = .set
        case .delete, .deleteReturningHead: self = .delete
        case .exists: self = .exists
        case .increment: self = .increment
        case .expire, .expireReturningHead: self = .expire
        case .mget: self = .mget
        case .mset, .msetReturningHeads: self = .mset
        case .throttle: self = .throttle
        }
    }

    /// Every kind.
    public static let all: Set<FaultOperationKind> = Set(allCases)
    /// The kinds Redis refuses under OOM (`denyoom`): set, increment, mset, throttle.
    public static let writes: Set<FaultOperationKind> = [.set, .increment, .mset, .throttle]
    /// The kinds that only read: get, exists, mget.
    public static let reads: Set<FaultOperationKind> = [.get, .exists, .mget]
    /// The multi-key kinds a partial pipeline failure applies to: mget, mset.
    public static let batches: Set<FaultOperationKind> = [.mget, .mset]

    public var description: String { rawValue }
}
