public import NIOCore
internal import Logging
public import Metrics

/// The degradation ladder: a full (or failing) cache never crashes a request.
///
/// When the backend fails a write with a classified ``CacheError/failureClass``, the route's
/// policy (``CachePolicy/action(for:)``: `onOOM`, or `onFailure[class]`) decides:
///
/// | action | `set` / `mset` | `increment` | `throttle` |
/// |---|---|---|---|
/// | `shed` | ``WriteOutcome/dropped(_:)``, nothing thrown | the error is thrown | thrown |
/// | `fallback` | kept in the ``FallbackStore``: ``WriteOutcome/storedLocally(_:)`` | counted in the store | thrown |
/// | `fail` | the error is thrown | thrown | thrown |
///
/// - `increment` has no write outcome to report a drop with, so `shed` behaves as `fail`: a
///   counter must not silently skip a step. With `fallback` it counts on in the local store,
///   starting from the backend's value (reads still work under OOM).
/// - `throttle` always rethrows: the ``RateLimiter`` decides with its own `onCacheFailure`.
/// - A conditional `set` (`NX`/`XX`, which locks use) is never kept locally: `fallback` throws
///   for it, because another process could not see the local copy. `shed` reports `.dropped`, never
///   `.stored`.
/// - Failures with no class (policy rejections, invalid arguments) and classes the policy does
///   not name always propagate.
///
/// Reads, deletes and expires pass through (Redis serves them under OOM). A `get`, `mget` or
/// `exists` that fails with a transport class (`connection`, `timeout`, `busy`) is answered as a
/// miss (`nil`, all `nil`, `false`) when the route's ``CachePolicy/onReadFailure`` is `miss` (the
/// default), and counted (``DegradeStats/Counts/readsDegraded``,
/// `spillway_reads_degraded_total`); with `fail` the error is thrown. Other read failures always
/// propagate. With a fallback store, a `get`/`mget`/`exists` reads the store first (a local copy
/// is newer than the backend's value), then the backend; a `delete` also removes the local
/// copy; a successful backend write of a key removes its local copy.
///
/// When an unconditional `set` or an `mset` is shed or kept locally, the value it meant to
/// replace is deleted from the backend (best effort: Redis serves `DEL` at maxmemory), so a
/// reader never gets the old value back. See ``invalidate(_:_:_:)``.
///
/// An optional ``WriteBreaker`` stops sending writes after repeated OOM replies (they then
/// follow the ladder as if refused), and an optional ``PressureMonitor`` sheds low-priority
/// `set`/`mset` writes before the server refuses any.
///
/// The no-fault path is a switch, one atomic load for the breaker, one for the fallback store
/// after a successful write, and a direct call of `next`: no allocation, no existential.
public struct Degrade<C: Clock>: CacheMiddleware where C.Duration == Duration {
    /// Where `fallback` writes go, if the chain has one.
    public let fallback: FallbackStore<C>?
    /// The write breaker, if any.
    public let breaker: WriteBreaker<C>?
    /// The pressure monitor, if any.
    public let pressure: PressureMonitor<C>?
    /// What this middleware did, so far.
    public let stats: DegradeStats
    /// The metrics factory its counters go to; `nil` is the global one.
    public let metricsFactory: (any MetricsFactory)?

    /// Creates the middleware.
    /// - Parameters:
    ///   - fallback: the store for `fallback` writes; without one, `fallback` behaves as `shed`
    ///     for `set`/`mset` and as `fail` for `increment`.
    ///   - breaker: the write breaker, or `nil` for none.
    ///   - pressure: the pressure monitor, or `nil` for none.
    ///   - stats: the counters to update (pass one to share it).
    ///   - metricsFactory: where the swift-metrics counters go; `nil` uses the global factory.
    public init(
        fallback: FallbackStore<C>? = nil, breaker: WriteBreaker<C>? = nil, pressure: PressureMonitor<C>? = nil,
        stats: DegradeStats = DegradeStats(), metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.fallback = fallback
        self.breaker = breaker
        self.pressure = pressure
        self.stats = stats
        self.metricsFactory = metricsFactory
    }

    /// Increments a counter (only on slow paths: a drop, a fallback, a degraded read).
    func count(_ label: String, _ dimensions: [(String, String)]) {
        if let metricsFactory {
            Counter(label: label, dimensions: dimensions, factory: metricsFactory).increment()
        } else {
            Counter(label: label, dimensions: dimensions).increment()
        }
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch operation {
        case .set, .mset, .msetReturningHeads, .increment, .throttle:
            if let breaker, !breaker.isClosed {
                return try await guardedWrite(operation, context, next)
            }
            if pressure != nil, context.policy.priority == .low {
                return try await guardedWrite(operation, context, next)
            }
            let reply: CacheReply
            do {
                reply = try await next(operation, context)
            } catch {
                return try await failedWrite(operation, context, error, probe: false, next)
            }
            if let fallback, !fallback.isEmpty { Self.clearLocal(operation, fallback) }
            return reply
        case .get, .mget, .exists:
            if let fallback, !fallback.isEmpty { return try await read(operation, context, fallback, next) }
            do {
                return try await next(operation, context)
            } catch {
                return try degradedRead(operation, context, error)
            }
        case .delete(let key):
            guard let fallback, !fallback.isEmpty else { return try await next(operation, context) }
            return try await delete(key, context, fallback, next)
        case .deleteReturningHead(let key, _):
            guard let fallback, !fallback.isEmpty else { return try await next(operation, context) }
            let removedLocally = fallback.remove(key)
            let reply = try await next(operation, context)
            if removedLocally, case .headed(false, let head) = reply { return .headed(true, previousHead: head) }
            return reply
        case .expire, .expireReturningHead:
            return try await next(operation, context)
        }
    }

    // MARK: Slow paths

    /// A write while the breaker is not closed, or a low-priority write with a pressure monitor.
    @usableFromInline
    func guardedWrite(
        _ operation: CacheOperation, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if let pressure, context.policy.priority == .low, operation.hasWriteOutcome,
            await pressure.shouldShedLowPriority(logger: context.logger)
        {
            stats.record(.pressureShed)
            count("spillway_writes_shed_total", [("route", context.route ?? "-"), ("reason", "pressure")])
            let removed = await invalidate(operation, context, next)
            if case .set = operation { return .write(WriteResult(.dropped(.outOfMemory), previous: removed.first ?? nil)) }
            return .write(WriteResult(.dropped(.outOfMemory), previousHeads: removed))
        }
        var probe = false
        if let breaker {
            switch breaker.admit(logger: context.logger) {
            case .send:
                break
            case .probe:
                probe = true
            case .reject:
                stats.record(.breakerRejected)
                let error = CacheError(
                    .outOfMemory, "write not sent: the write breaker is open after repeated out-of-memory replies",
                    route: context.route
                )
                return try await degrade(operation, context, error, .outOfMemory, next)
            }
        }
        let reply: CacheReply
        do {
            reply = try await next(operation, context)
        } catch {
            return try await failedWrite(operation, context, error, probe: probe, next)
        }
        if probe { breaker?.probeSucceeded(logger: context.logger) }
        if let fallback, !fallback.isEmpty { Self.clearLocal(operation, fallback) }
        return reply
    }

    /// A write the backend failed: tell the breaker, then follow the ladder.
    @usableFromInline
    func failedWrite(
        _ operation: CacheOperation, _ context: CacheContext, _ error: CacheError, probe: Bool,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        guard let failure = error.failureClass else {
            if probe { breaker?.probeAbandoned() }
            throw error
        }
        if failure == .outOfMemory {
            breaker?.recordOutOfMemory(probe: probe, logger: context.logger)
        } else if probe {
            breaker?.probeAbandoned()
        }
        return try await degrade(operation, context, error, failure, next)
    }

    /// Applies the route's action for `failure` to a write that did not reach the backend.
    func degrade(
        _ operation: CacheOperation, _ context: CacheContext, _ error: CacheError, _ failure: FailureClass,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        guard let action = context.policy.action(for: failure) else { throw fail(error, context) }
        switch operation {
        case .set(let key, let value, let options):
            switch action {
            case .fail:
                throw fail(error, context)
            case .shed:
                let removed = await invalidate(operation, context, next).first ?? nil
                return shed(error, context, operation, removed: removed)
            case .fallback:
                guard options.condition == .always else { throw fail(error, context) }
                let removed = await invalidate(operation, context, next).first ?? nil
                guard let fallback else { return shed(error, context, operation, removed: removed) }
                guard fallback.put(key, value, expiry: options.expiry) else {
                    return shed(error, context, operation, removed: removed)
                }
                return storedLocally(error, context, removed: removed)
            }
        case .mset(let pairs, let ttl), .msetReturningHeads(let pairs, let ttl, _):
            switch action {
            case .fail:
                throw fail(error, context)
            case .shed:
                let removed = await invalidate(operation, context, next)
                return shed(error, context, operation, removedHeads: removed)
            case .fallback:
                let removed = await invalidate(operation, context, next)
                guard let fallback else { return shed(error, context, operation, removedHeads: removed) }
                for pair in pairs where !fallback.put(pair.key, pair.value, expiry: ttl.map(Expiry.after) ?? Expiry.none) {
                    for stored in pairs { fallback.remove(stored.key) }
                    return shed(error, context, operation, removedHeads: removed)
                }
                return storedLocally(error, context, removedHeads: removed)
            }
        case .increment(let key, let by, let ttlOnCreate):
            guard action == .fallback, let fallback else { throw fail(error, context) }
            return .integer(try await localIncrement(key, by: by, ttlOnCreate: ttlOnCreate, fallback, context, error, next))
        case .throttle, .get, .mget, .exists, .delete, .expire, .deleteReturningHead, .expireReturningHead:
            throw fail(error, context)
        }
    }

    /// Counts on in the fallback store, starting from the local value or else the backend's.
    func localIncrement(
        _ key: CacheKey, by: Int64, ttlOnCreate: Duration?, _ fallback: FallbackStore<C>, _ context: CacheContext,
        _ error: CacheError, _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> Int64 {
        let local = fallback.get(key)
        let current: ByteBuffer?
        if let local {
            current = local
        } else {
            // Reads flow under OOM: start from the shared value so the count does not restart.
            guard case .value(let shared) = try await next(.get(key), context) else { throw fail(error, context) }
            current = shared
        }
        var start: Int64 = 0
        if let current {
            guard let n = current.withUnsafeReadableBytes({ DecimalInteger.parseOrNil($0) }) else {
                throw CacheError(.other, "ERR value is not an integer or out of range", route: context.route)
            }
            start = n
        }
        let (sum, overflow) = start.addingReportingOverflow(by)
        if overflow { throw CacheError(.other, "ERR increment or decrement would overflow", route: context.route) }
        guard fallback.put(key, ByteBuffer(string: String(sum)), expiry: local != nil ? .keep : ttlOnCreate.map(Expiry.after) ?? Expiry.none) else {
            throw fail(error, context)
        }
        stats.record(.storedLocally)
        count("spillway_writes_fallback_total", [("route", context.route ?? "-")])
        return sum
    }

    /// Makes the value that an unconditional write meant to replace unreadable, when the write
    /// did not reach the backend (shed, or kept locally): a best-effort `DEL` of each key, which
    /// Redis serves at maxmemory. Without it a reader would get the old value back (a session
    /// update silently rolled back). Conditional writes (`NX`, `XX`) are left alone: `NX` would
    /// not have replaced anything, and an `XX` caller is told the write was dropped.
    ///
    /// A `DEL` that fails too is counted (``DegradeStats/Counts/invalidationsFailed``) and
    /// logged; the write's outcome is reported either way.
    ///
    /// When the write asked for the heads of the values it replaces (a `set` with
    /// ``SetOptions/previousHeadBytes``, or ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``,
    /// as ``ValueSpill`` does to release old blobs) and the backend returns heads, each `DEL` is a
    /// `deleteReturningHead`, and the deleted values' heads are returned: the shed write reports
    /// them as its ``WriteResult/previous`` (a `set`) or ``WriteResult/previousHeads`` (an `mset`),
    /// so the layer above can release what the deleted values pointed at (spilled blobs) instead
    /// of leaving them to the sweeper.
    /// - Returns: one head per key of the write (`nil` where there was none, or the `DEL`
    ///   failed), when heads were asked for; else an empty array.
    @discardableResult
    func invalidate(
        _ operation: CacheOperation, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async -> [ByteBuffer?] {
        let keys: [CacheKey]
        var headBytes: Int?
        switch operation {
        case .set(let key, _, let options) where options.condition == .always:
            keys = [key]
            if options.returnPrevious, context.capabilities.returnsPreviousHead { headBytes = options.previousHeadBytes }
        case .mset(let pairs, _): keys = pairs.map(\.key)
        case .msetReturningHeads(let pairs, _, let bytes):
            keys = pairs.map(\.key)
            if context.capabilities.returnsPreviousHead { headBytes = bytes }
        default: return []
        }
        var removedHeads: [ByteBuffer?] = []
        if headBytes != nil { removedHeads.reserveCapacity(keys.count) }
        for key in keys {
            if headBytes != nil { removedHeads.append(nil) }
            do {
                if let headBytes {
                    if case .headed(_, let head) = try await next(.deleteReturningHead(key, headBytes: headBytes), context) {
                        removedHeads[removedHeads.count - 1] = head
                    }
                } else {
                    _ = try await next(.delete(key), context)
                }
                stats.record(.invalidated)
                count("spillway_overwrites_invalidated_total", [("route", context.route ?? "-"), ("result", "deleted")])
            } catch {
                stats.record(.invalidationsFailed)
                count("spillway_overwrites_invalidated_total", [("route", context.route ?? "-"), ("result", "failed")])
                context.logger.warning(
                    "spillway could not delete the old value of a write it did not store; it stays readable until it expires",
                    metadata: ["key": "\(key.preview())", "code": "\(error.code)"]
                )
            }
        }
        return removedHeads
    }

    /// A dropped write; `removed` is the head of the old value that ``invalidate(_:_:_:)`` deleted
    /// for a `set`, `removedHeads` those it deleted for an `mset`.
    func shed(
        _ error: CacheError, _ context: CacheContext, _ operation: CacheOperation, removed: ByteBuffer? = nil, removedHeads: [ByteBuffer?] = []
    ) -> CacheReply {
        stats.record(.shed)
        count("spillway_writes_shed_total", [("route", context.route ?? "-"), ("reason", "\(error.code)")])
        context.logger.debug("spillway shed a write", metadata: ["op": "\(operation.name)", "code": "\(error.code)"])
        return .write(WriteResult(.dropped(error.code), previous: removed, previousHeads: removedHeads))
    }

    /// A write kept in the fallback store; `removed` and `removedHeads` as in
    /// ``shed(_:_:_:removed:removedHeads:)``.
    func storedLocally(_ error: CacheError, _ context: CacheContext, removed: ByteBuffer? = nil, removedHeads: [ByteBuffer?] = []) -> CacheReply {
        stats.record(.storedLocally)
        count("spillway_writes_fallback_total", [("route", context.route ?? "-")])
        return .write(WriteResult(.storedLocally(error.code), previous: removed, previousHeads: removedHeads))
    }

    func fail(_ error: CacheError, _ context: CacheContext) -> CacheError {
        stats.record(.failed)
        var error = error
        if error.route == nil { error.route = context.route }
        return error
    }

    // MARK: Reads

    /// Whether a read that failed with `failure` may be answered as a miss: the transport
    /// classes, where the backend did not answer (a miss costs the caller a recomputation; the
    /// error would cost it the request).
    @inlinable
    static func isDegradableRead(_ failure: FailureClass?) -> Bool {
        switch failure {
        case .connection?, .timeout?, .busy?: true
        default: false
        }
    }

    /// A read the backend failed: a counted miss when the route's `onReadFailure` is `miss` and
    /// the failure is a transport one, else the error.
    /// - Parameter local: values the fallback store holds for an `mget`'s keys, kept in the miss.
    @usableFromInline
    func degradedRead(_ operation: CacheOperation, _ context: CacheContext, _ error: CacheError, local: [ByteBuffer?]? = nil) throws(CacheError) -> CacheReply {
        var error = error
        if error.code == .cancelled, let deadline = context.deadline, ContinuousClock.now >= deadline {
            // Cancelled by the facade at the operation's deadline: a timeout, degraded as one.
            error = CacheError(.timeout, "the read did not finish by its deadline", underlying: error)
        }
        guard Self.isDegradableRead(error.failureClass), context.policy.onReadFailure == .miss else {
            var error = error
            if error.route == nil { error.route = context.route }
            throw error
        }
        let reply: CacheReply
        switch operation {
        case .get: reply = .value(nil)
        case .exists: reply = .bool(false)
        case .mget(let keys): reply = .values(local ?? Array(repeating: nil, count: keys.count))
        default: throw error
        }
        stats.record(.readsDegraded)
        count("spillway_reads_degraded_total", [("route", context.route ?? "-"), ("op", operation.name), ("reason", "\(error.code)")])
        context.logger.debug("spillway answered a failed read as a miss", metadata: ["op": "\(operation.name)", "code": "\(error.code)"])
        return reply
    }

    // MARK: Reads and deletes with a fallback store

    @usableFromInline
    func read(
        _ operation: CacheOperation, _ context: CacheContext, _ fallback: FallbackStore<C>,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        // The local copy first: it is newer than whatever the backend holds for the key (a
        // successful backend write removes it), so the backend's older value is never returned.
        switch operation {
        case .get(let key):
            if let value = fallback.get(key) {
                stats.record(.fallbackHits)
                return .value(value)
            }
        case .exists(let key):
            if fallback.get(key) != nil {
                stats.record(.fallbackHits)
                return .bool(true)
            }
        default:
            break
        }
        let reply: CacheReply
        do {
            reply = try await next(operation, context)
        } catch {
            // A read that fails is answered locally when every key it asks for is here, else
            // (on a transport failure, policy `miss`) as a counted miss for the keys that are not.
            guard error.failureClass != nil else { throw error }
            switch operation {
            case .get(let key):
                guard let value = fallback.get(key) else { return try degradedRead(operation, context, error) }
                stats.record(.fallbackHits)
                return .value(value)
            case .exists(let key):
                guard fallback.get(key) != nil else { return try degradedRead(operation, context, error) }
                stats.record(.fallbackHits)
                return .bool(true)
            case .mget(let keys):
                let values = keys.map { fallback.get($0) }
                guard values.allSatisfy({ $0 != nil }) else { return try degradedRead(operation, context, error, local: values) }
                stats.record(.fallbackHits)
                return .values(values)
            default:
                throw error
            }
        }
        if fallback.isEmpty { return reply }
        switch (operation, reply) {
        case (.get(let key), .value(nil)):
            // Kept locally while the backend was being asked.
            guard let value = fallback.get(key) else { return reply }
            stats.record(.fallbackHits)
            return .value(value)
        case (.exists(let key), .bool(false)):
            guard fallback.get(key) != nil else { return reply }
            stats.record(.fallbackHits)
            return .bool(true)
        case (.mget(let keys), .values(var values)) where values.count == keys.count:
            // Local copies win over the backend's values, as for `get`.
            var hit = false
            for i in values.indices {
                if let value = fallback.get(keys[i]) {
                    values[i] = value
                    hit = true
                }
            }
            if hit { stats.record(.fallbackHits) }
            return .values(values)
        default:
            return reply
        }
    }

    @usableFromInline
    func delete(
        _ key: CacheKey, _ context: CacheContext, _ fallback: FallbackStore<C>,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let removedLocally = fallback.remove(key)
        let reply = try await next(.delete(key), context)
        if removedLocally, case .count(0) = reply { return .count(1) }
        return reply
    }

    /// Removes the local copies of keys the backend just accepted.
    @usableFromInline
    static func clearLocal(_ operation: CacheOperation, _ fallback: FallbackStore<C>) {
        switch operation {
        case .set(let key, _, _), .increment(let key, _, _):
            fallback.remove(key)
        case .mset(let pairs, _), .msetReturningHeads(let pairs, _, _):
            for pair in pairs { fallback.remove(pair.key) }
        case .throttle, .get, .mget, .exists, .delete, .expire, .deleteReturningHead, .expireReturningHead:
            break
        }
    }
}

extension Degrade where C == ContinuousClock {
    /// Creates the middleware on the continuous clock: no fallback store, breaker or monitor
    /// unless given.
    /// - Parameters:
    ///   - fallback: the store for `fallback` writes.
    ///   - breaker: the write breaker.
    ///   - pressure: the pressure monitor.
    public init(fallback: FallbackStore<ContinuousClock>? = nil, breaker: WriteBreaker<ContinuousClock>? = nil, pressure: PressureMonitor<ContinuousClock>? = nil) {
        self.init(fallback: fallback, breaker: breaker, pressure: pressure, stats: DegradeStats())
    }
}

extension CacheOperation {
    /// Whether the operation replies with a ``WriteResult`` that can report a dropped write.
    var hasWriteOutcome: Bool {
        switch self {
        case .set, .mset, .msetReturningHeads: true
        case .get, .delete, .exists, .increment, .expire, .mget, .throttle, .deleteReturningHead, .expireReturningHead: false
        }
    }
}
