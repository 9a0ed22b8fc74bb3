/// The fully resolved policy for one operation: every field has a value.
///
/// Build a ``PolicyTable`` from defaults, routes and key prefixes; the table resolves a
/// `CachePolicy` once per operation.
public struct CachePolicy: Sendable, Hashable {
    /// Longest key, in bytes, that reaches the backend unchanged.
    public var maxKeyBytes: Int
    /// What to do with a longer key.
    public var keyOverflow: KeyOverflow
    /// Values longer than this (in bytes) are spilled to the blob store, when a ``ValueSpill``-style
    /// middleware is in the chain. `nil` disables spilling for the route.
    public var spillAbove: Int?
    /// Longest value accepted at all, in bytes; longer writes are rejected with `.rejectedByPolicy`.
    public var maxValueBytes: Int
    /// Whether every write must carry a TTL.
    public var requireTTL: Bool
    /// The longest TTL accepted, if any.
    public var maxTTL: Duration?
    /// What a write does when the backend answers out-of-memory (`shed` by default). This is the
    /// only place that says what an OOM does: ``onFailure`` cannot name out-of-memory.
    public var onOOM: DegradeAction
    /// What a write does on the other failure classes; classes not listed propagate the error.
    public var onFailure: [OtherFailureClass: DegradeAction]
    /// What a read (`get`, `mget`, `exists`) does when the backend fails it with a transport
    /// class (`connection`, `timeout`, `busy`): answer a counted miss (the default) or throw.
    public var onReadFailure: ReadFailureAction
    /// How important the route's writes are; `low` ones are shed first under memory pressure.
    public var priority: WritePriority
    /// The route's rate limit, if it has one.
    public var throttle: ThrottlePolicy?

    /// The smallest `maxKeyBytes` that still leaves room for a hashed key (its fixed suffix plus
    /// a few readable bytes).
    public static let minimumMaxKeyBytes = 48

    /// Creates a policy. The defaults are the ones Spillway documents in the README.
    /// - Parameters:
    ///   - onOOM: what a write does when the backend is out of memory.
    ///   - onFailure: what a write does on each other failure class (out-of-memory cannot be
    ///     listed here; it is ``onOOM``).
    public init(
        maxKeyBytes: Int = 256,
        keyOverflow: KeyOverflow = .hash,
        spillAbove: Int? = 512 * 1024,
        maxValueBytes: Int = 64 * 1024 * 1024,
        requireTTL: Bool = false,
        maxTTL: Duration? = nil,
        onOOM: DegradeAction = .shed,
        onFailure: [OtherFailureClass: DegradeAction] = [:],
        onReadFailure: ReadFailureAction = .miss,
        priority: WritePriority = .normal,
        throttle: ThrottlePolicy? = nil
    ) {
        self.maxKeyBytes = maxKeyBytes
        self.keyOverflow = keyOverflow
        self.spillAbove = spillAbove
        self.maxValueBytes = maxValueBytes
        self.requireTTL = requireTTL
        self.maxTTL = maxTTL
        self.onOOM = onOOM
        self.onFailure = onFailure
        self.onReadFailure = onReadFailure
        self.priority = priority
        self.throttle = throttle
    }

    /// The action for a failure class: ``onOOM`` for out-of-memory, else `onFailure[class]`, or
    /// `nil` (the error propagates) for a class that `onFailure` does not list. A blob store that
    /// cannot take a value (``FailureClass/storage``) is handled like out-of-memory unless
    /// `onFailure` names it: `onFailure[.storage] ?? onOOM`.
    @inlinable
    public func action(for failure: FailureClass) -> DegradeAction? {
        guard let other = OtherFailureClass(failure) else { return onOOM }
        if other == .storage { return onFailure[.storage] ?? onOOM }
        return onFailure[other]
    }
}

/// What to do with a key longer than `maxKeyBytes`.
public enum KeyOverflow: String, Sendable, Hashable, Codable, CaseIterable {
    /// Refuse the operation with `.rejectedByPolicy`.
    case reject
    /// Rewrite the key to a short, stable, keyed XXH3-128 form that keeps a readable prefix.
    case hash
}

/// What a write does when the backend fails with a given class of error.
public enum DegradeAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Drop the write and report ``WriteOutcome/dropped(_:)``; never throw.
    case shed
    /// Keep the write in a bounded in-process store that this process reads from.
    case fallback
    /// Throw the typed error. Locks use this, so they never pretend to succeed.
    case fail
}

/// What a read does when the backend fails it with a transport class (`connection`, `timeout`,
/// `busy`).
public enum ReadFailureAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Answer a miss (`nil`; `false` for `exists`), counted in ``DegradeStats`` and
    /// `spillway_reads_degraded_total`: the caller recomputes instead of failing the request.
    case miss
    /// Throw the typed error, for callers that must tell an outage from an absent key.
    case fail
}

/// How important a route's writes are under memory pressure.
public enum WritePriority: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Shed first, before the server refuses anything.
    case low
    /// Ordinary writes.
    case normal
    /// Kept as long as the server accepts writes.
    case high

    private var rank: Int {
        switch self {
        case .low: 0
        case .normal: 1
        case .high: 2
        }
    }

    public static func < (a: WritePriority, b: WritePriority) -> Bool { a.rank < b.rank }
}

/// A route's rate limit.
public struct ThrottlePolicy: Sendable, Hashable {
    /// Requests allowed per ``period``.
    public var limit: Int
    /// The period of the limit.
    public var period: Duration
    /// Requests that may pass back to back from rest; defaults to ``limit``.
    public var burst: Int?
    /// What the limiter decides when the cache cannot be written.
    public var onCacheFailure: ThrottleFailureMode
    /// For `local`: the share of the limit that this process allows on its own (0 < share ≤ 1).
    public var localShare: Double

    /// Creates a rate limit.
    public init(limit: Int, period: Duration, burst: Int? = nil, onCacheFailure: ThrottleFailureMode = .local, localShare: Double = 0.5) {
        self.limit = limit
        self.period = period
        self.burst = burst
        self.onCacheFailure = onCacheFailure
        self.localShare = localShare
    }

    /// The GCRA parameters of this limit.
    public var parameters: GCRAParameters { GCRAParameters(limit: limit, period: period, burst: burst) }
}

/// What a rate limiter decides when its shared state cannot be written.
public enum ThrottleFailureMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Fail open: allow the request.
    case allow
    /// Fail closed: deny it (HTTP 429 with `Retry-After`).
    case deny
    /// Decide with an in-process GCRA at a conservative share of the limit.
    case local
}
