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

    private struct Entry {
        var key: CacheKey
        var value: ByteBuffer
        var expiresAt: C.Instant?
        var cost: Int
        var prev: Int
        var next: Int
    }

    private struct State {
        var entries: [Entry] = []
        var free: [Int] = []
        var index: [CacheKey: Int] = [:]
        var head = -1  // most recently used
        var tail = -1  // least recently used
        var bytes = 0
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
    public var bytes: Int { state.withLock { $0.bytes } }

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
            if let i = s.index[key] {
                if expiry == .keep, let kept = s.entries[i].expiresAt { expiresAt = kept }
                Self.remove(i, &s)
            }
            guard cost <= maxBytes else { return (false, 0, s.index.count) }
            var evicted = 0
            while s.bytes + cost > maxBytes, s.tail >= 0 {
                Self.remove(s.tail, &s)
                evicted += 1
            }
            s.evictions += evicted
            let entry = Entry(key: key, value: value, expiresAt: expiresAt, cost: cost, prev: -1, next: s.head)
            let i: Int
            if let reused = s.free.popLast() {
                s.entries[reused] = entry
                i = reused
            } else {
                s.entries.append(entry)
                i = s.entries.count - 1
            }
            if s.head >= 0 { s.entries[s.head].prev = i }
            s.head = i
            if s.tail < 0 { s.tail = i }
            s.index[key] = i
            s.bytes += cost
            return (true, evicted, s.index.count)
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
            guard let i = s.index[key] else { return (nil, s.index.count) }
            if let at = s.entries[i].expiresAt, at <= now {
                Self.remove(i, &s)
                return (nil, s.index.count)
            }
            Self.touch(i, &s)
            return (s.entries[i].value, s.index.count)
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
            guard let i = s.index[key] else { return (false, s.index.count) }
            Self.remove(i, &s)
            return (true, s.index.count)
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

    // MARK: List

    private static func touch(_ i: Int, _ s: inout State) {
        guard s.head != i else { return }
        unlink(i, &s)
        s.entries[i].prev = -1
        s.entries[i].next = s.head
        if s.head >= 0 { s.entries[s.head].prev = i }
        s.head = i
        if s.tail < 0 { s.tail = i }
    }

    private static func unlink(_ i: Int, _ s: inout State) {
        let p = s.entries[i].prev
        let n = s.entries[i].next
        if p >= 0 { s.entries[p].next = n } else if s.head == i { s.head = n }
        if n >= 0 { s.entries[n].prev = p } else if s.tail == i { s.tail = p }
    }

    private static func remove(_ i: Int, _ s: inout State) {
        unlink(i, &s)
        s.index[s.entries[i].key] = nil
        s.bytes -= s.entries[i].cost
        s.entries[i] = Entry(key: CacheKey(bytes: ByteBuffer()), value: ByteBuffer(), expiresAt: nil, cost: 0, prev: -2, next: -2)
        s.free.append(i)
    }
}

extension FallbackStore where C == ContinuousClock {
    /// Creates a store on the continuous clock.
    /// - Parameter maxBytes: the bound, in bytes.
    public convenience init(maxBytes: Int) {
        self.init(maxBytes: maxBytes, clock: ContinuousClock())
    }
}
