internal import NIOCore

/// The embedded backend: an in-process cache with Redis's semantics where they matter to
/// Spillway, generic over its clock so TTLs are tested with a manual clock and no sleeping.
///
/// - `maxmemory` is accounted with ``RedisMemoryModel``. As in Redis, a write is refused (or
///   eviction runs) when memory used is *already above* the limit before the command.
/// - ``MaxMemoryPolicy/noEviction``: writes (`set`, `mset`, `increment`, `throttle`) fail with
///   `.outOfMemory` and Redis's exact text; `get`, `delete`, `exists` and `expire` keep working.
/// - ``MaxMemoryPolicy/allKeysLRU``: least recently used keys are evicted (exact LRU, where
///   Redis samples).
/// - Every operation is atomic: the actor runs one at a time.
public actor MemoryCache<C: Clock>: CacheClient where C.Duration == Duration {
    /// The memory limit in bytes (`nil`: unlimited).
    public private(set) var maxMemory: Int?
    /// The policy at the limit.
    public private(set) var policy: MaxMemoryPolicy
    /// The clock TTLs are measured on.
    public nonisolated let clock: C
    /// Capabilities: everything native (including previous-value heads), values up to 512 MiB
    /// (Redis's `proto-max-bulk-len`).
    public nonisolated let capabilities = CacheCapabilities(
        atomicSetReturningPrevious: true, atomicThrottle: true, maxValueBytes: 512 * 1024 * 1024, returnsPreviousHead: true
    )

    private let origin: C.Instant
    /// The entries, in LRU order (the same storage as ``FallbackStore``'s).
    private var table = LRUTable<C.Instant>()
    private var lastExpirySweep: C.Instant?

    /// Keys evicted by `allkeys-lru` so far.
    public private(set) var evictedKeys = 0
    /// Keys removed because their TTL passed.
    public private(set) var expiredKeys = 0
    /// Writes refused with OOM.
    public private(set) var rejectedWrites = 0

    /// Creates a cache.
    /// - Parameters:
    ///   - maxMemory: the limit in bytes, as Redis's `maxmemory`; `nil` for none.
    ///   - policy: what happens at the limit.
    ///   - clock: the clock for TTLs.
    public init(maxMemory: Int? = nil, policy: MaxMemoryPolicy = .noEviction, clock: C) {
        self.maxMemory = maxMemory
        self.policy = policy
        self.clock = clock
        self.origin = clock.now
    }

    /// Changes the limit or policy at run time (`CONFIG SET maxmemory`).
    public func configure(maxMemory: Int?, policy: MaxMemoryPolicy? = nil) {
        self.maxMemory = maxMemory
        if let policy { self.policy = policy }
    }

    /// Bytes in use, as ``RedisMemoryModel`` counts them.
    public var usedMemory: Int {
        table.bytes + RedisMemoryModel.tableCost(count: table.count) + RedisMemoryModel.tableCost(count: table.expiring)
    }

    /// The number of keys, including ones expired but not yet removed.
    public var count: Int { table.count }

    /// The remaining time to live of a key: `nil` for a missing key or one without TTL.
    public func ttl(of key: CacheKey) -> Duration? {
        guard let i = live(key), let at = table[i].expiresAt else { return nil }
        return clock.now.duration(to: at)
    }

    /// All live keys (for tests and the sweeper's reconciliation).
    public func keys() -> [CacheKey] {
        let now = clock.now
        var out: [CacheKey] = []
        for i in 0..<table.slotCount where table.isLive(i) {
            if let at = table[i].expiresAt, at <= now { continue }
            out.append(table[i].key)
        }
        return out
    }

    public func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        CacheMemoryStats(usedBytes: usedMemory, maxBytes: maxMemory, keyCount: table.count)
    }

    public func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        if operation.isWrite { try admitWrite() }
        switch operation {
        case .get(let key):
            return .value(
                live(key).map {
                    table.touch($0); return table[$0].value
                })
        case .mget(let keys):
            return .values(
                keys.map { key in
                    live(key).map {
                        table.touch($0); return table[$0].value
                    }
                })
        case .exists(let key):
            return .bool(live(key) != nil)
        case .delete(let key):
            guard let i = live(key) else { return .count(0) }
            table.remove(i)
            return .count(1)
        case .set(let key, let value, let options):
            return .write(try set(key, value, options))
        case .mset(let pairs, let ttl):
            for pair in pairs where pair.value.readableBytes > capabilities.maxValueBytes { throw Self.tooLarge() }
            for pair in pairs { try store(pair.key, pair.value, ttl: ttl.map(deadline), keepTTL: false) }
            return .write(WriteResult(.stored))
        case .msetReturningHeads(let pairs, let ttl, let headBytes):
            for pair in pairs where pair.value.readableBytes > capabilities.maxValueBytes { throw Self.tooLarge() }
            // Every head first: a key given twice gets the value from before the operation.
            let heads = pairs.map { pair in live(pair.key).map { Self.head(of: table[$0].value, headBytes) } }
            for pair in pairs { try store(pair.key, pair.value, ttl: ttl.map(deadline), keepTTL: false) }
            return .write(WriteResult(.stored, previousHeads: heads))
        case .increment(let key, let by, let ttl):
            return .integer(try increment(key, by: by, ttlOnCreate: ttl))
        case .expire(let key, let ttl):
            guard let i = live(key) else { return .bool(false) }
            if ttl <= .zero {
                table.remove(i)
            } else {
                table.setExpiry(i, deadline(ttl), cost: Self.cost(table[i].key, table[i].value, hasTTL: true))
            }
            return .bool(true)
        case .throttle(let key, let parameters):
            return .throttle(try throttle(key, parameters))
        case .deleteReturningHead(let key, let headBytes):
            guard let i = live(key) else { return .headed(false, previousHead: nil) }
            let head = Self.head(of: table[i].value, headBytes)
            table.remove(i)
            return .headed(true, previousHead: head)
        case .expireReturningHead(let key, let ttl, let headBytes):
            guard let i = live(key) else { return .headed(false, previousHead: nil) }
            let head = Self.head(of: table[i].value, headBytes)
            if ttl <= .zero {
                table.remove(i)
            } else {
                table.setExpiry(i, deadline(ttl), cost: Self.cost(table[i].key, table[i].value, hasTTL: true))
            }
            return .headed(true, previousHead: head)
        }
    }

    /// At most the first `bytes` bytes of a value (a slice: nothing is copied).
    private static func head(of value: ByteBuffer, _ bytes: Int) -> ByteBuffer {
        value.getSlice(at: value.readerIndex, length: min(max(bytes, 0), value.readableBytes))!
    }

    // MARK: Operations

    private func set(_ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions) throws(CacheError) -> WriteResult {
        try options.expiry.validate()
        if value.readableBytes > capabilities.maxValueBytes { throw Self.tooLarge() }
        let existing = live(key)
        var previous = options.returnPrevious ? existing.map { table[$0].value } : nil
        if let limit = options.previousHeadBytes, let whole = previous { previous = Self.head(of: whole, limit) }
        switch options.condition {
        case .ifNotExists where existing != nil, .ifExists where existing == nil:
            return WriteResult(.conditionNotMet, previous: previous)
        default:
            break
        }
        try store(key, value, ttl: options.expiry.duration.map(deadline), keepTTL: options.expiry == .keep)
        return WriteResult(.stored, previous: previous)
    }

    private func increment(_ key: CacheKey, by: Int64, ttlOnCreate: Duration?) throws(CacheError) -> Int64 {
        if let i = live(key) {
            guard let current = Self.integer(table[i].value) else {
                throw CacheError(.other, "ERR value is not an integer or out of range")
            }
            let (sum, overflow) = current.addingReportingOverflow(by)
            if overflow { throw CacheError(.other, "ERR increment or decrement would overflow") }
            try store(key, ByteBuffer(string: String(sum)), ttl: nil, keepTTL: true)
            return sum
        }
        if let ttl = ttlOnCreate, ttl <= .zero {
            throw CacheError(.invalidArgument, "ERR invalid expire time in 'increment' command")
        }
        try store(key, ByteBuffer(string: String(by)), ttl: ttlOnCreate.map(deadline), keepTTL: false)
        return by
    }

    private func throttle(_ key: CacheKey, _ parameters: GCRAParameters) throws(CacheError) -> GCRADecision {
        // The limiter's hot path: read the clock once, look the key up once, and rewrite an
        // existing TAT in place (its buffer is reused when no reader holds it).
        let instant = clock.now
        let now = origin.duration(to: instant).nanoseconds
        var slot = table.find(key)
        if let i = slot, let at = table[i].expiresAt, at <= instant {
            table.remove(i)
            expiredKeys += 1
            slot = nil
        }
        let stored = slot.flatMap { Self.integer(table[$0].value) }
        let step = GCRA.step(storedTAT: stored, now: now, parameters: parameters)
        guard let newTAT = step.newTAT else { return step.decision }
        let expiresAt = instant.advanced(by: .nanoseconds(step.ttlNanoseconds))
        guard let i = slot else {
            var value = ByteBuffer()
            Self.writeDecimal(newTAT, to: &value)
            try store(key, value, ttl: expiresAt, keepTTL: false)
            return step.decision
        }
        table.rewrite(i, expiresAt: expiresAt, cost: { RedisMemoryModel.entryCost(keyBytes: key.count, valueBytes: $0.readableBytes, valueIsInteger: true, hasTTL: true) }) { value in
            value.clear()
            Self.writeDecimal(newTAT, to: &value)
        }
        table.touch(i)
        return step.decision
    }

    /// Writes an integer's decimal digits (as Redis stores integers), without a `String`.
    private static func writeDecimal(_ n: Int64, to buffer: inout ByteBuffer) {
        var magnitude = n.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, on the stack
        withUnsafeMutableBytes(of: &digits) { scratch in
            var at = scratch.count
            repeat {
                at -= 1
                scratch[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if n < 0 {
                at -= 1
                scratch[at] = UInt8(ascii: "-")
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[at...]))
        }
    }

    // MARK: Memory

    private func admitWrite() throws(CacheError) {
        guard let maxMemory else { return }
        if usedMemory <= maxMemory { return }
        sweepExpired()
        if usedMemory <= maxMemory { return }
        if policy == .allKeysLRU {
            while usedMemory > maxMemory, table.tail >= 0 {
                table.remove(table.tail)
                evictedKeys += 1
            }
            if usedMemory <= maxMemory { return }
        }
        rejectedWrites += 1
        throw CacheError(.outOfMemory, CacheError.redisOOMMessage)
    }

    /// Removes expired keys, at most once per 100 ms of clock time (Redis's active expiry runs
    /// ten times a second).
    private func sweepExpired() {
        let now = clock.now
        if let last = lastExpirySweep, last.duration(to: now) < .milliseconds(100) { return }
        lastExpirySweep = now
        guard table.expiring > 0 else { return }
        for i in 0..<table.slotCount where table.isLive(i) {
            if let at = table[i].expiresAt, at <= now {
                table.remove(i)
                expiredKeys += 1
            }
        }
    }

    // MARK: Storage

    private func deadline(_ ttl: Duration) -> C.Instant { clock.now.advanced(by: ttl) }

    /// The slot of a live key, removing it if expired.
    private func live(_ key: CacheKey) -> Int? {
        guard let i = table.find(key) else { return nil }
        if let at = table[i].expiresAt, at <= clock.now {
            table.remove(i)
            expiredKeys += 1
            return nil
        }
        return i
    }

    private func store(_ key: CacheKey, _ value: ByteBuffer, ttl: C.Instant?, keepTTL: Bool) throws(CacheError) {
        if let i = table.find(key) {
            let expiresAt = ttl ?? (keepTTL ? table[i].expiresAt : nil)
            table.update(i, value: value, expiresAt: expiresAt, cost: Self.cost(key, value, hasTTL: expiresAt != nil))
            table.touch(i)
            return
        }
        table.insert(key, value, expiresAt: ttl, cost: Self.cost(key, value, hasTTL: ttl != nil))
    }

    private static func cost(_ key: CacheKey, _ value: ByteBuffer, hasTTL: Bool) -> Int {
        RedisMemoryModel.entryCost(
            keyBytes: key.count, valueBytes: value.readableBytes,
            valueIsInteger: value.readableBytes <= 20 && integer(value) != nil, hasTTL: hasTTL
        )
    }

    /// The value as a 64-bit integer, as `Int64(String)` parses it (an optional sign, then
    /// digits), or `nil`. Parsed from the bytes, with no `String` (``DecimalInteger``).
    private static func integer(_ value: ByteBuffer) -> Int64? {
        guard value.readableBytes <= 20 else { return nil }
        return value.withUnsafeReadableBytes { DecimalInteger.parseOrNil($0) }
    }

    private static func tooLarge() -> CacheError {
        CacheError(.tooLarge, "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    }
}

extension MemoryCache where C == ContinuousClock {
    /// Creates a cache on the continuous clock.
    /// - Parameters:
    ///   - maxMemory: the limit in bytes; `nil` for none.
    ///   - policy: what happens at the limit.
    public init(maxMemory: Int? = nil, policy: MaxMemoryPolicy = .noEviction) {
        self.init(maxMemory: maxMemory, policy: policy, clock: ContinuousClock())
    }
}
