/// The fields of one policy (in `defaults`, a route or a prefix), spelt as in the file.
public enum PolicyField: String, CaseIterable, Sendable, Hashable {
    /// A size: the longest key that reaches the backend unchanged.
    case maxKeyBytes
    /// `reject` or `hash`.
    case keyOverflow
    /// A size, or `off`.
    case spillAbove
    /// A size.
    case maxValueBytes
    /// `true` or `false`.
    case requireTTL
    /// A duration.
    case maxTTL
    /// `shed`, `fallback` or `fail`.
    case onOOM
    /// A mapping from failure class to `shed`, `fallback` or `fail`.
    case onFailure
    /// `miss` or `fail`: what a read does when the backend fails it on the transport.
    case onReadFailure
    /// `low`, `normal` or `high`.
    case priority
    /// A mapping: `limit`, `period`, `burst`, `onCacheFailure`, `localShare`.
    case throttle
}

/// The fields of a `throttle` mapping.
public enum ThrottleField: String, CaseIterable, Sendable, Hashable {
    /// Requests per period (an integer, at least 1). Required.
    case limit
    /// The period (a duration). Required.
    case period
    /// Requests that may pass back to back (an integer, at least 1).
    case burst
    /// `allow`, `deny` or `local`.
    case onCacheFailure
    /// A number in (0, 1].
    case localShare
}

/// The sections of a policy file.
public enum PolicySection: String, CaseIterable, Sendable, Hashable {
    /// The format version; only `1` exists.
    case version
    /// The policy for everything not overridden.
    case defaults
    /// Overrides by route (`POST /orders/upload`) or job (`job:resize`).
    case routes
    /// Overrides by key prefix; matching prefixes apply from shortest to longest.
    case prefixes
    /// `true`: refuse to start with the public default key-hash material.
    case requireSecret
}
