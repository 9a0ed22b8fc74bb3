public import NIOCore
internal import Synchronization
internal import Metrics

/// A bounded, in-process LRU of values that the backend refused (policy `onOOM: fallback`).
///
/// ``Degrade`` writes here when the backend fails a write and the route says `fallback`, and reads
/// here when the backend misses or fails a read. An entry leaves when a backend write of the
/// same key succeeds, when the key is deleted, when its TTL passes, or when the store needs room:
/// the total of keys and values (plus a fixed per-entry overhead) never exceeds ``maxBytes``.
///
/// The store is shared by reference and safe to use from any task (a `Mutex` guards it); an
/// atomic entry count lets the no-fault path check "is anything here?" without taking the lock.
public final class FallbackStore<C: Clock>: Sendable where C.Duration == Duration {
    /// The bytes charged per entry on top of its key and value (links, bookkeeping).
    public static var entryOverhead: Int { 64 }

    /// The most bytes the store holds.
    public let maxBytes: Int
    /// The clock that entries' TTLs run on.
    public let clock: C

    private struct State {
        /// The entries, in LRU order (the same storage as ``MemoryCache``'s).
        var table = LRUTable<C.Instant>()
        var evictions = 0
    }

    private let state = Mutex(State())
    private let entryCount = Atomic<Int>(0)

    /// Creates a store.
    /// - Parameters:
    ///   - maxBytes: the bound, in bytes, of keys plus values plus ``entryOverhead`` each.
    ///   - clock: the clock for entries' TTLs.
    public init(maxBytes: Int, clock: C) {
        self.maxBytes = max(0, maxBytes)
        self.clock = clock
    }

    /// Whether the store holds any entry (one atomic load; no lock).
    public var isEmpty: Bool { entryCount.load(ordering: .relaxed) == 0 }

    /// The number of entries, including expired ones not yet removed.
    public var count: Int { entryCount.load(ordering: .relaxed) }

    /// The bytes charged to the entries held.
    public var bytes: Int { state.withLock { $0.table.bytes } }

    /// Entries removed to make room, so far.
    public var evictions: Int { state.withLock { $0.evictions } }

    /// Stores a value, evicting the least recently used entries to make room.
    /// - Parameters:
    ///   - key: the key.
    ///   - value: the value.
    ///   - expiry: its time to live: none, a duration from now, or ``Expiry/keep`` to keep the
    ///     expiry of the key's current entry (none for a new key).
    /// - Returns: `false` when the entry alone is larger than ``maxBytes`` (nothing is stored,
    ///   and any older entry of the key is removed, so a stale value is never served).
    @discardableResult
    public func put(_ key: CacheKey, _ value: ByteBuffer, expiry: Expiry = .none) -> Bool {
        let cost = key.count + value.readableBytes + Self.entryOverhead
        var expiresAt = expiry.duration.map { clock.now.advanced(by: $0) }
        let (stored, evicted, count) = state.withLock { s -> (Bool, Int, Int) in
            if let i = s.table.find(key) {
                if expiry == .keep, let kept = s.table[i].expiresAt { expiresAt = kept }
                s.table.remove(i)
            }
            guard cost <= maxBytes else { return (false, 0, s.table.count) }
            var evicted = 0
            while s.table.bytes + cost > maxBytes, s.table.tail >= 0 {
                s.table.remove(s.table.tail)
                evicted += 1
            }
            s.evictions += evicted
            s.table.insert(key, value, expiresAt: expiresAt, cost: cost)
            return (true, evicted, s.table.count)
        }
        entryCount.store(count, ordering: .relaxed)
        if evicted > 0 { Counter(label: "spillway_fallback_evictions_total").increment(by: evicted) }
        return stored
    }

    /// The value of a live entry, or `nil`; marks it recently used.
    public func get(_ key: CacheKey) -> ByteBuffer? {
        if isEmpty { return nil }
        let now = clock.now
        let (value, count) = state.withLock { s -> (ByteBuffer?, Int) in
            guard let i = s.table.find(key) else { return (nil, s.table.count) }
            if let at = s.table[i].expiresAt, at <= now {
                s.table.remove(i)
                return (nil, s.table.count)
            }
            s.table.touch(i)
            return (s.table[i].value, s.table.count)
        }
        entryCount.store(count, ordering: .relaxed)
        return value
    }

    /// Removes a key's entry, if any.
    /// - Returns: whether an entry was removed.
    @discardableResult
    public func remove(_ key: CacheKey) -> Bool {
        if isEmpty { return false }
        let (removed, count) = state.withLock { s -> (Bool, Int) in
            guard let i = s.table.find(key) else { return (false, s.table.count) }
            s.table.remove(i)
            return (true, s.table.count)
        }
        entryCount.store(count, ordering: .relaxed)
        return removed
    }

    /// Removes every entry.
    public func removeAll() {
        state.withLock { s in
            let evictions = s.evictions
            s = State()
            s.evictions = evictions
        }
        entryCount.store(0, ordering: .relaxed)
    }
}

extension FallbackStore where C == ContinuousClock {
    /// Creates a store on the continuous clock.
    /// - Parameter maxBytes: the bound, in bytes.
    public convenience init(maxBytes: Int) {
        self.init(maxBytes: maxBytes, clock: ContinuousClock())
    }
}
