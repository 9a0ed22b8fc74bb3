internal import NIOCore

/// The storage of an in-process LRU cache: entries in one array, linked from most to least
/// recently used by index, a key index, a free list for reuse, and the running totals that a
/// memory bound needs. ``MemoryCache`` and ``FallbackStore`` both keep their entries in one;
/// each brings its own locking (an actor, a mutex), its cost model and its eviction policy.
///
/// Every operation is O(1). Indices stay valid until the entry is
/// removed.
struct LRUTable<Instant: Sendable>: Sendable {
    struct Entry: Sendable {
        var key: CacheKey
        var value: ByteBuffer
        var expiresAt: Instant?
        var cost: Int
        var prev: Int
        var next: Int
    }

    private(set) var entries: [Entry] = []
    private var free: [Int] = []
    private var index: [CacheKey: Int] = [:]
    /// The most recently used entry, or -1.
    private(set) var head = -1
    /// The least recently used entry, or -1.
    private(set) var tail = -1
    /// The sum of the entries' costs.
    private(set) var bytes = 0
    /// How many entries have an expiry.
    private(set) var expiring = 0

    /// The number of entries.
    var count: Int { index.count }

    /// The index of `key`'s entry, if it has one (expired or not).
    func find(_ key: CacheKey) -> Int? { index[key] }

    /// The entry at `i`.
    subscript(i: Int) -> Entry { entries[i] }

    /// Adds an entry for a key that has none, as the most recently used.
    /// - Returns: its index.
    @discardableResult
    mutating func insert(_ key: CacheKey, _ value: ByteBuffer, expiresAt: Instant?, cost: Int) -> Int {
        let entry = Entry(key: key, value: value, expiresAt: expiresAt, cost: cost, prev: -1, next: head)
        let i: Int
        if let reused = free.popLast() {
            entries[reused] = entry
            i = reused
        } else {
            entries.append(entry)
            i = entries.count - 1
        }
        if head >= 0 { entries[head].prev = i }
        head = i
        if tail < 0 { tail = i }
        index[key] = i
        bytes += cost
        if expiresAt != nil { expiring += 1 }
        return i
    }

    /// Replaces the value, expiry and cost of entry `i`, keeping its place in the list.
    mutating func update(_ i: Int, value: ByteBuffer, expiresAt: Instant?, cost: Int) {
        if (entries[i].expiresAt != nil) != (expiresAt != nil) { expiring += expiresAt != nil ? 1 : -1 }
        bytes += cost - entries[i].cost
        entries[i].value = value
        entries[i].expiresAt = expiresAt
        entries[i].cost = cost
    }

    /// Changes the expiry and cost of entry `i`.
    mutating func setExpiry(_ i: Int, _ expiresAt: Instant?, cost: Int) {
        update(i, value: entries[i].value, expiresAt: expiresAt, cost: cost)
    }

    /// Rewrites the value of entry `i` in place (its buffer is reused when nobody else holds it),
    /// then sets its expiry and cost.
    mutating func rewrite(_ i: Int, expiresAt: Instant?, cost: (ByteBuffer) -> Int, _ body: (inout ByteBuffer) -> Void) {
        if (entries[i].expiresAt != nil) != (expiresAt != nil) { expiring += expiresAt != nil ? 1 : -1 }
        bytes -= entries[i].cost
        body(&entries[i].value)
        entries[i].expiresAt = expiresAt
        entries[i].cost = cost(entries[i].value)
        bytes += entries[i].cost
    }

    /// Marks entry `i` the most recently used.
    mutating func touch(_ i: Int) {
        guard head != i else { return }
        unlink(i)
        entries[i].prev = -1
        entries[i].next = head
        if head >= 0 { entries[head].prev = i }
        head = i
        if tail < 0 { tail = i }
    }

    /// Removes entry `i`; its index is reused by a later insert.
    mutating func remove(_ i: Int) {
        unlink(i)
        index[entries[i].key] = nil
        bytes -= entries[i].cost
        if entries[i].expiresAt != nil { expiring -= 1 }
        entries[i] = Entry(key: CacheKey(bytes: ByteBuffer()), value: ByteBuffer(), expiresAt: nil, cost: 0, prev: -2, next: -2)
        free.append(i)
    }

    /// Removes every entry.
    mutating func removeAll() { self = LRUTable() }

    /// The number of slots, live or free: iterate `0..<slotCount` where ``isLive(_:)`` to visit
    /// every entry (removing the one visited is allowed).
    var slotCount: Int { entries.count }

    /// Whether slot `i` holds an entry (it is not on the free list).
    func isLive(_ i: Int) -> Bool { entries[i].prev != -2 }

    private mutating func unlink(_ i: Int) {
        let p = entries[i].prev
        let n = entries[i].next
        if p >= 0 { entries[p].next = n } else if head == i { head = n }
        if n >= 0 { entries[n].prev = p } else if tail == i { tail = p }
    }
}
