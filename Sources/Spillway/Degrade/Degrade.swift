internal import NIOCore
internal import Logging
internal import Metrics

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
/// Reads, deletes and expires pass through untouched (Redis serves them under OOM). With a
/// fallback store, a `get`/`mget`/`exists` that misses or fails is answered from the store;
/// a `delete` also removes the local copy; a successful backend write of a key removes its
/// local copy.
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

    /// Creates the middleware.
    /// - Parameters:
    ///   - fallback: the store for `fallback` writes; without one, `fallback` behaves as `shed`
    ///     for `set`/`mset` and as `fail` for `increment`.
    ///   - breaker: the write breaker, or `nil` for none.
    ///   - pressure: the pressure monitor, or `nil` for none.
    ///   - stats: the counters to update (pass one to share it).
    public init(fallback: FallbackStore<C>? = nil, breaker: WriteBreaker<C>? = nil, pressure: PressureMonitor<C>? = nil, stats: DegradeStats = DegradeStats()) {
        self.fallback = fallback
        self.breaker = breaker
        self.pressure = pressure
        self.stats = stats
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch operation {
        case .set, .mset, .increment, .throttle:
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
            guard let fallback else { return try await next(operation, context) }
            return try await read(operation, context, fallback, next)
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
            Counter(label: "spillway_writes_shed_total", dimensions: [("route", context.route ?? "-"), ("reason", "pressure")]).increment()
            return .write(WriteResult(.dropped(.outOfMemory)))
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
                return shed(error, context, operation)
            case .fallback:
                guard options.condition == .always else { throw fail(error, context) }
                guard let fallback else { return shed(error, context, operation) }
                guard fallback.put(key, value, expiry: options.expiry) else {
                    return shed(error, context, operation)
                }
                return storedLocally(error, context)
            }
        case .mset(let pairs, let ttl):
            switch action {
            case .fail:
                throw fail(error, context)
            case .shed:
                return shed(error, context, operation)
            case .fallback:
                guard let fallback else { return shed(error, context, operation) }
                for pair in pairs where !fallback.put(pair.key, pair.value, expiry: ttl.map(Expiry.after) ?? Expiry.none) {
                    for stored in pairs { fallback.remove(stored.key) }
                    return shed(error, context, operation)
                }
                return storedLocally(error, context)
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
            guard let n = Int64(String(decoding: current.readableBytesView, as: UTF8.self)) else {
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
        Counter(label: "spillway_writes_fallback_total", dimensions: [("route", context.route ?? "-")]).increment()
        return sum
    }

    func shed(_ error: CacheError, _ context: CacheContext, _ operation: CacheOperation) -> CacheReply {
        stats.record(.shed)
        Counter(label: "spillway_writes_shed_total", dimensions: [("route", context.route ?? "-"), ("reason", "\(error.code)")]).increment()
        context.logger.debug("spillway shed a write", metadata: ["op": "\(operation.name)", "code": "\(error.code)"])
        return .write(WriteResult(.dropped(error.code)))
    }

    func storedLocally(_ error: CacheError, _ context: CacheContext) -> CacheReply {
        stats.record(.storedLocally)
        Counter(label: "spillway_writes_fallback_total", dimensions: [("route", context.route ?? "-")]).increment()
        return .write(WriteResult(.storedLocally(error.code)))
    }

    func fail(_ error: CacheError, _ context: CacheContext) -> CacheError {
        stats.record(.failed)
        var error = error
        if error.route == nil { error.route = context.route }
        return error
    }

    // MARK: Reads and deletes with a fallback store

    @usableFromInline
    func read(
        _ operation: CacheOperation, _ context: CacheContext, _ fallback: FallbackStore<C>,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let reply: CacheReply
        do {
            reply = try await next(operation, context)
        } catch {
            // A read that fails is answered locally only when every key it asks for is here.
            guard error.failureClass != nil, !fallback.isEmpty else { throw error }
            switch operation {
            case .get(let key):
                guard let value = fallback.get(key) else { throw error }
                stats.record(.fallbackHits)
                return .value(value)
            case .exists(let key):
                guard fallback.get(key) != nil else { throw error }
                stats.record(.fallbackHits)
                return .bool(true)
            case .mget(let keys):
                var values: [ByteBuffer?] = []
                values.reserveCapacity(keys.count)
                for key in keys {
                    guard let value = fallback.get(key) else { throw error }
                    values.append(value)
                }
                stats.record(.fallbackHits)
                return .values(values)
            default:
                throw error
            }
        }
        if fallback.isEmpty { return reply }
        switch (operation, reply) {
        case (.get(let key), .value(nil)):
            guard let value = fallback.get(key) else { return reply }
            stats.record(.fallbackHits)
            return .value(value)
        case (.exists(let key), .bool(false)):
            guard fallback.get(key) != nil else { return reply }
            stats.record(.fallbackHits)
            return .bool(true)
        case (.mget(let keys), .values(var values)) where values.count == keys.count:
            var hit = false
            for i in values.indices where values[i] == nil {
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
        case .mset(let pairs, _):
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
        case .set, .mset: true
        case .get, .delete, .exists, .increment, .expire, .mget, .throttle, .deleteReturningHead, .expireReturningHead: false
        }
    }
}
