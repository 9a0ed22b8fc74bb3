public import NIOCore

/// The closed set of operations that travel down the middleware chain.
///
/// Each case is a plain value. A middleware may rewrite an operation (the key guard rewrites
/// keys, the spill rewrites values) before passing it on; backends execute it.
public enum CacheOperation: Sendable {
    /// Read one key. Replies ``CacheReply/value(_:)``.
    case get(CacheKey)
    /// Write one key. Replies ``CacheReply/write(_:)``.
    case set(CacheKey, ByteBuffer, SetOptions)
    /// Delete one key. Replies ``CacheReply/count(_:)`` with the number of keys removed (0 or 1).
    case delete(CacheKey)
    /// Whether a key exists. Replies ``CacheReply/bool(_:)``.
    case exists(CacheKey)
    /// Add `by` to an integer counter, creating it at 0 first; `ttlOnCreate` is applied only when
    /// the counter is created. Replies ``CacheReply/integer(_:)`` with the new value.
    case increment(CacheKey, by: Int64, ttlOnCreate: Duration?)
    /// Set a key's time to live. Replies ``CacheReply/bool(_:)``: whether the key existed.
    case expire(CacheKey, ttl: Duration)
    /// Delete one key and return, atomically with the delete, at most the first `headBytes` bytes
    /// of the value it held. Replies ``CacheReply/headed(_:previousHead:)``: whether the key was
    /// removed, and that head (`nil` when the key held no string value).
    ///
    /// Only sent to a backend with ``CacheCapabilities/returnsPreviousHead``. The spill uses it
    /// to find an old pointer without pulling the old value over the wire.
    case deleteReturningHead(CacheKey, headBytes: Int)
    /// Set a key's time to live (as ``expire(_:ttl:)``) and return, atomically with it, at most
    /// the first `headBytes` bytes of its value. Replies ``CacheReply/headed(_:previousHead:)``:
    /// whether the key existed, and that head (`nil` when the key held no string value).
    ///
    /// Only sent to a backend with ``CacheCapabilities/returnsPreviousHead``.
    case expireReturningHead(CacheKey, ttl: Duration, headBytes: Int)
    /// Read several keys. Replies ``CacheReply/values(_:)``, one entry per key, in order.
    case mget([CacheKey])
    /// Write several keys, each with the same optional TTL. Replies ``CacheReply/write(_:)``.
    case mset([KeyValue], ttl: Duration?)
    /// Write several keys (as ``mset(_:ttl:)``) and return, atomically with the writes, at most
    /// the first `headBytes` bytes of the value each key held before this operation. Replies
    /// ``CacheReply/write(_:)`` whose ``WriteResult/previousHeads`` has one entry per pair, in
    /// order (`nil` where the key held no string value; a key given twice gets the same head
    /// twice: the value before the operation).
    ///
    /// Only sent to a backend with ``CacheCapabilities/returnsPreviousHead``. The spill uses it
    /// to find old pointers in the round trip that writes, without pulling old values over the
    /// wire.
    case msetReturningHeads([KeyValue], ttl: Duration?, headBytes: Int)
    /// One atomic GCRA rate-limit step on the key. Replies ``CacheReply/throttle(_:)``.
    case throttle(CacheKey, GCRAParameters)

    /// The operation's name, for logs and metrics.
    public var name: String {
        switch self {
        case .get: "get"
        case .set: "set"
        case .delete, .deleteReturningHead: "delete"
        case .exists: "exists"
        case .increment: "increment"
        case .expire, .expireReturningHead: "expire"
        case .mget: "mget"
        case .mset, .msetReturningHeads: "mset"
        case .throttle: "throttle"
        }
    }

    /// Whether the operation may need memory on the server (Redis's `denyoom` commands).
    /// Writes are refused under OOM; reads, deletes and expires keep working.
    public var isWrite: Bool {
        switch self {
        case .set, .increment, .mset, .msetReturningHeads, .throttle: true
        case .get, .delete, .exists, .expire, .mget, .deleteReturningHead, .expireReturningHead: false
        }
    }

    /// The first key the operation touches, used to resolve prefix policies.
    public var primaryKey: CacheKey? {
        switch self {
        case .get(let k), .set(let k, _, _), .delete(let k), .exists(let k), .increment(let k, _, _),
            .expire(let k, _), .throttle(let k, _), .deleteReturningHead(let k, _), .expireReturningHead(let k, _, _):
            k
        case .mget(let keys): keys.first
        case .mset(let pairs, _), .msetReturningHeads(let pairs, _, _): pairs.first?.key
        }
    }
}

/// A key and its value, for ``CacheOperation/mset(_:ttl:)`` and
/// ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``.
public struct KeyValue: Sendable, Hashable {
    /// The key.
    public var key: CacheKey
    /// The value.
    public var value: ByteBuffer

    /// Creates a pair.
    @inlinable
    public init(_ key: CacheKey, _ value: ByteBuffer) {
        self.key = key
        self.value = value
    }
}

/// Options of a `set`, matching Redis `SET key value [NX|XX] [GET] [PX ms|KEEPTTL]`.
public struct SetOptions: Sendable, Hashable {
    /// When the write may happen.
    public enum Condition: Sendable, Hashable {
        /// Always (plain `SET`).
        case always
        /// Only if the key does not exist (`NX`); the basis of locks.
        case ifNotExists
        /// Only if the key exists (`XX`).
        case ifExists
    }

    /// What the write does to the key's time to live: none, a duration, or keep the current one.
    public var expiry: Expiry
    /// When the write may happen.
    public var condition: Condition
    /// Return the previous value (`SET … GET`).
    public var returnPrevious: Bool
    /// With ``returnPrevious``: return at most this many leading bytes of the previous value
    /// (its *head*) instead of all of it. A backend with
    /// ``CacheCapabilities/returnsPreviousHead`` sends back only the head; others may return the
    /// whole value. `nil` (the default) asks for the whole value.
    public var previousHeadBytes: Int? = nil

    /// Creates options.
    /// - Parameters:
    ///   - expiry: the key's time to live after the write; ``Expiry/none`` by default.
    ///   - condition: when the write may happen; ``Condition/always`` by default.
    ///   - returnPrevious: whether the reply carries the previous value.
    @inlinable
    public init(expiry: Expiry = .none, condition: Condition = .always, returnPrevious: Bool = false) {
        self.expiry = expiry
        self.condition = condition
        self.returnPrevious = returnPrevious
    }
}
