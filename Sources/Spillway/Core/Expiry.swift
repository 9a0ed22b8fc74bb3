/// What a write does to the key's time to live.
///
/// One value, so a write can never ask for a TTL and for keeping the current one at once (Redis
/// rejects `SET … PX ms KEEPTTL` as a syntax error; here it cannot be written).
///
/// | Case | Redis | The key's TTL after the write |
/// |---|---|---|
/// | ``none`` | `SET k v` | none (any previous TTL is cleared) |
/// | ``after(_:)`` | `SET k v PX ms` | the given duration, from now |
/// | ``keep`` | `SET k v KEEPTTL` | the previous TTL, or none for a new key |
public enum Expiry: Sendable, Hashable {
    /// The key does not expire.
    case none
    /// The key expires this long after the write. The duration must be positive: a zero or
    /// negative one is refused with ``CacheError/Code/invalidArgument`` (see ``validate()``).
    case after(Duration)
    /// The key keeps the expiry it had before the write (`KEEPTTL`); a new key gets none.
    case keep

    /// The duration of ``after(_:)``, or `nil` for ``none`` and ``keep``.
    @inlinable
    public var duration: Duration? {
        if case .after(let ttl) = self { return ttl }
        return nil
    }

    /// Checks that the expiry can be applied.
    /// - Throws: ``CacheError`` with code ``CacheError/Code/invalidArgument`` when the duration of
    ///   ``after(_:)`` is zero or negative.
    @inlinable
    public func validate() throws(CacheError) {
        if case .after(let ttl) = self, ttl <= .zero {
            throw CacheError(.invalidArgument, "TTL must be positive, got \(ttl)")
        }
    }
}
