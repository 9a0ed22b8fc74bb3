public import NIOCore
public import Metrics
internal import Logging

/// Moves values above the policy's `spillAbove` out of the cache into a ``BlobStore``, leaving a
/// small verified pointer (``SpillPointer``) in their place, and resolves pointers on reads.
///
/// Put it after the key guard and the limits guard, so that the keys it records are the keys the
/// backend sees and oversized values are already refused:
///
/// ```swift
/// let cache = GuardedCache(client: client, policies: table) {
///     KeyGuard()
///     LimitsGuard()
///     ValueSpill(store: try FileBlobStore(root: "/var/cache/app/blobs"))
/// }
/// ```
///
/// - **set**: a value of more than `spillAbove` bytes is written to the store (expiry: the key's
///   TTL plus ``grace``), then its pointer is written. If the pointer write throws, or comes back
///   with any outcome but `.stored` (dropped, kept locally, condition not met), the new blob is
///   deleted before the error or the outcome is returned. A value at or under the threshold is
///   written as it is, escaped if it starts with the envelope magic (see ``SpillEnvelope``).
/// - **overwrite and delete** release the key's old blob. Overwrites use `SET … GET` when the
///   backend has it (``CacheCapabilities/atomicSetReturningPrevious``), else a read first;
///   deletes read the key first.
/// - **get / mget** resolve pointers and verify the content's length and XXH3-128. A missing blob
///   is a miss (`spillway_blob_misses_total`); a blob that fails verification, or a pointer that
///   does not decode, is a miss counted as corruption (`spillway_blob_corruption_total`) and
///   logged at error level. Wrong bytes are never returned.
/// - **expire** moves the blob's expiry with the key's new TTL.
///
/// A value that is not spilled costs a size check and a one-byte peek; nothing is allocated.
public struct ValueSpill<Store: BlobStore>: CacheMiddleware {
    /// Where spilled values go.
    public let store: Store
    /// How long a blob outlives its key's TTL.
    public let grace: Duration
    /// The wall clock for expiries.
    public let clock: BlobClock
    @usableFromInline let metrics: SpillMetrics

    /// Creates the middleware.
    /// - Parameters:
    ///   - store: the blob store; its name must be 1 to 255 UTF-8 bytes.
    ///   - grace: how long a blob outlives its key's TTL (default five minutes), so that clock
    ///     skew between the cache and the store never removes a blob a live key points at.
    ///   - clock: the wall clock for expiries (``BlobClock/system``, or one on a manual clock).
    ///   - metricsFactory: the metrics factory to use; `nil` uses the global one.
    /// - Precondition: the store's name fits the envelope, and `grace` is not negative.
    public init(store: Store, grace: Duration = .seconds(300), clock: BlobClock = .system, metricsFactory: (any MetricsFactory)? = nil) {
        precondition(SpillPointer.isValidStoreName(store.name), "a blob store's name must be 1...255 UTF-8 bytes")
        precondition(grace >= .zero, "grace must not be negative")
        self.store = store
        self.grace = grace
        self.clock = clock
        self.metrics = SpillMetrics(factory: metricsFactory)
    }

    @inlinable
    public func handle(
        _ operation: CacheOperation,
        context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        switch operation {
        case .get(let key):
            let reply = try await next(operation, context)
            if case .value(let value?) = reply, SpillEnvelope.mayBeEnvelope(value) {
                return .value(try await resolve(value, key: key, context))
            }
            return reply
        case .mget(let keys):
            let reply = try await next(operation, context)
            if case .values(let values) = reply, values.contains(where: { $0.map(SpillEnvelope.mayBeEnvelope) ?? false }) {
                return .values(try await resolveAll(values, keys: keys, context))
            }
            return reply
        case .set(let key, let value, let options):
            if let limit = context.policy.spillAbove, value.readableBytes > limit {
                return try await spillSet(key, value, options, context, next)
            }
            let stored = SpillEnvelope.storedForm(ofRaw: value)
            guard context.capabilities.atomicSetReturningPrevious else {
                return try await setReadingFirst(key, stored, options, newBlob: nil, context, next)
            }
            var withPrevious = options
            withPrevious.returnPrevious = true
            let reply = try await next(.set(key, stored, withPrevious), context)
            guard case .write(let result) = reply else { return reply }
            if let previous = result.previous, SpillEnvelope.mayBeEnvelope(previous) {
                return .write(await afterOverwrite(result, old: previous, wantPrevious: options.returnPrevious, key: key, context))
            }
            return options.returnPrevious ? reply : .write(WriteResult(result.outcome))
        case .delete(let key):
            return try await delete(key, context, next)
        case .mset(let pairs, let ttl):
            return try await mset(pairs, ttl: ttl, context, next)
        case .expire(let key, let ttl):
            return try await expire(key, ttl: ttl, context, next)
        case .exists, .increment, .throttle:
            return try await next(operation, context)
        }
    }

    // MARK: Writes

    /// Spills `value`, writes its pointer, and undoes the blob if the pointer is not stored.
    @usableFromInline
    func spillSet(
        _ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let size = value.readableBytes
        try checkSize(size, context.policy, context)
        let pointer = try await putBlob(key, value, ttl: options.expiry.duration, context)
        if !context.capabilities.atomicSetReturningPrevious {
            return try await setReadingFirst(key, pointer.encoded(), options, newBlob: pointer.id, context, next)
        }
        var withPrevious = options
        withPrevious.returnPrevious = true
        let reply: CacheReply
        do {
            reply = try await next(.set(key, pointer.encoded(), withPrevious), context)
        } catch {
            await rollback(pointer.id, because: "the pointer write failed: \(error.code)", key: key, context)
            throw error
        }
        return await finishSpill(reply, pointer: pointer, old: nil, options: options, size: size, key: key, context)
    }

    /// A set on a backend without `SET … GET`: read the old value, write, then release.
    @usableFromInline
    func setReadingFirst(
        _ key: CacheKey, _ stored: ByteBuffer, _ options: SetOptions, newBlob: BlobID?, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let old: ByteBuffer?
        let reply: CacheReply
        do {
            if case .value(let v) = try await next(.get(key), context) { old = v } else { old = nil }
            reply = try await next(.set(key, stored, options), context)
        } catch {
            if let newBlob { await rollback(newBlob, because: "the pointer write failed: \(error.code)", key: key, context) }
            throw error
        }
        if let newBlob, case .pointer(let pointer) = SpillEnvelope.decode(stored) {
            precondition(pointer.id == newBlob)
            return await finishSpill(reply, pointer: pointer, old: old, options: options, size: Int(pointer.length), key: key, context)
        }
        guard case .write(let result) = reply else { return reply }
        return .write(await afterOverwrite(result, old: old, wantPrevious: options.returnPrevious, key: key, context))
    }

    /// After a pointer write: keep the blob only if the pointer was stored; release the old one.
    @usableFromInline
    func finishSpill(
        _ reply: CacheReply, pointer: SpillPointer, old: ByteBuffer?, options: SetOptions, size: Int,
        key: CacheKey, _ context: CacheContext
    ) async -> CacheReply {
        guard case .write(let result) = reply else {
            await rollback(pointer.id, because: "unexpected reply to set", key: key, context)
            return reply
        }
        if result.outcome != .stored {
            await rollback(pointer.id, because: "the pointer was not stored (\(result.outcome))", key: key, context)
        } else {
            metrics.increment(SpillMetrics.spilled, route: context.route)
            metrics.increment(SpillMetrics.spilledBytes, by: size, route: context.route)
        }
        let previousOld = context.capabilities.atomicSetReturningPrevious ? result.previous : old
        return .write(await afterOverwrite(result, old: previousOld, wantPrevious: options.returnPrevious, key: key, context))
    }

    /// Writes a blob and returns its pointer.
    @usableFromInline
    func putBlob(_ key: CacheKey, _ value: ByteBuffer, ttl: Duration?, _ context: CacheContext) async throws(CacheError) -> SpillPointer {
        let now = clock.now()
        let expiresAt = ttl.map { now.advanced(by: $0 + grace) }
        let digest = XXH3.hash128(value)
        let id: BlobID
        do {
            id = try await store.put(value, metadata: BlobMetadata(createdAt: now, expiresAt: expiresAt, ownerKey: key))
        } catch {
            var error = error
            if error.route == nil { error.route = context.route }
            context.logger.warning("could not spill value", metadata: ["key": "\(key.preview())", "bytes": "\(value.readableBytes)", "error": "\(error)"])
            throw error
        }
        return SpillPointer(storeName: store.name, id: id, length: UInt64(value.readableBytes), digest: digest, expiresAt: expiresAt)
    }

    /// The previous value as the caller should see it, and the old blob released when the write
    /// replaced it.
    @usableFromInline
    func afterOverwrite(_ result: WriteResult, old: ByteBuffer?, wantPrevious: Bool, key: CacheKey, _ context: CacheContext) async -> WriteResult {
        var shown: ByteBuffer?
        if wantPrevious, let previous = result.previous {
            shown = try? await resolve(previous, key: key, context)
        }
        if result.outcome == .stored, let old, SpillEnvelope.mayBeEnvelope(old), case .pointer(let pointer) = SpillEnvelope.decode(old),
            pointer.storeName == store.name
        {
            await release(pointer.id, key: key, context)
        }
        return WriteResult(result.outcome, previous: shown)
    }

    @usableFromInline
    func delete(
        _ key: CacheKey, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let before = try await next(.get(key), context)
        let reply = try await next(.delete(key), context)
        if case .count(let n) = reply, n > 0, case .value(let old?) = before, SpillEnvelope.mayBeEnvelope(old),
            case .pointer(let pointer) = SpillEnvelope.decode(old), pointer.storeName == store.name
        {
            await release(pointer.id, key: key, context)
        }
        return reply
    }

    @usableFromInline
    func expire(
        _ key: CacheKey, ttl: Duration, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let reply = try await next(.expire(key, ttl: ttl), context)
        guard case .bool(true) = reply, ttl > .zero,
            case .value(let value?)? = try? await next(.get(key), context), SpillEnvelope.mayBeEnvelope(value),
            case .pointer(let pointer) = SpillEnvelope.decode(value), pointer.storeName == store.name
        else { return reply }
        do {
            try await store.setExpiry(pointer.id, clock.now().advanced(by: ttl + grace))
        } catch {
            context.logger.warning("could not move a spilled blob's expiry", metadata: ["key": "\(key.preview())", "blob": "\(pointer.id)", "error": "\(error)"])
        }
        return reply
    }

    @usableFromInline
    func mset(
        _ pairs: [KeyValue], ttl: Duration?, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        var out = pairs
        var spilled: [(index: Int, pointer: SpillPointer)] = []
        do {
            for i in pairs.indices {
                let policy = context.policies.resolve(route: context.route, key: pairs[i].key)
                let value = pairs[i].value
                if let limit = policy.spillAbove, value.readableBytes > limit {
                    try checkSize(value.readableBytes, policy, context)
                    let pointer = try await putBlob(pairs[i].key, value, ttl: ttl, context)
                    spilled.append((i, pointer))
                    out[i].value = pointer.encoded()
                } else {
                    out[i].value = SpillEnvelope.storedForm(ofRaw: value)
                }
            }
        } catch {
            for s in spilled { await rollback(s.pointer.id, because: "another value of the mset failed: \(error.code)", key: pairs[s.index].key, context) }
            throw error
        }
        let before: [ByteBuffer?]
        let reply: CacheReply
        do {
            if case .values(let values) = try await next(.mget(pairs.map(\.key)), context), values.count == pairs.count {
                before = values
            } else {
                before = []
            }
            reply = try await next(.mset(out, ttl: ttl), context)
        } catch {
            for s in spilled { await rollback(s.pointer.id, because: "the pointer write failed: \(error.code)", key: pairs[s.index].key, context) }
            throw error
        }
        guard case .write(let result) = reply, result.outcome == .stored else {
            for s in spilled { await rollback(s.pointer.id, because: "the pointer was not stored", key: pairs[s.index].key, context) }
            return reply
        }
        // Release what the write replaced: old pointers, and new blobs that a later pair with the
        // same key overwrote within this mset.
        var lastIndex: [CacheKey: Int] = [:]
        for i in pairs.indices { lastIndex[pairs[i].key] = i }
        for s in spilled {
            if lastIndex[pairs[s.index].key] != s.index {
                await release(s.pointer.id, key: pairs[s.index].key, context)
            } else {
                metrics.increment(SpillMetrics.spilled, route: context.route)
                metrics.increment(SpillMetrics.spilledBytes, by: Int(s.pointer.length), route: context.route)
            }
        }
        for (i, old) in before.enumerated() where lastIndex[pairs[i].key] == i {
            if let old, SpillEnvelope.mayBeEnvelope(old), case .pointer(let pointer) = SpillEnvelope.decode(old),
                pointer.storeName == store.name
            {
                await release(pointer.id, key: pairs[i].key, context)
            }
        }
        return reply
    }

    @usableFromInline
    func checkSize(_ size: Int, _ policy: CachePolicy, _ context: CacheContext) throws(CacheError) {
        if size > policy.maxValueBytes {
            throw CacheError(
                .rejectedByPolicy,
                "value of \(size) bytes exceeds maxValueBytes \(policy.maxValueBytes) at \(context.callSite)",
                route: context.route
            )
        }
    }

    /// Deletes a blob whose pointer was never stored.
    @usableFromInline
    func rollback(_ id: BlobID, because reason: String, key: CacheKey, _ context: CacheContext) async {
        metrics.increment(SpillMetrics.rollbacks, route: context.route)
        do {
            try await store.delete(id)
            context.logger.debug("deleted a spilled blob whose pointer was not stored", metadata: ["key": "\(key.preview())", "blob": "\(id)", "reason": "\(reason)"])
        } catch {
            metrics.increment(SpillMetrics.releaseFailures, route: context.route)
            context.logger.error(
                "could not delete a spilled blob whose pointer was not stored; the sweeper will reclaim it",
                metadata: ["key": "\(key.preview())", "blob": "\(id)", "reason": "\(reason)", "error": "\(error)"]
            )
        }
    }

    /// Deletes a blob that a key no longer points at.
    @usableFromInline
    func release(_ id: BlobID, key: CacheKey, _ context: CacheContext) async {
        do {
            if try await store.delete(id) { metrics.increment(SpillMetrics.blobsReleased, route: context.route) }
        } catch {
            metrics.increment(SpillMetrics.releaseFailures, route: context.route)
            context.logger.warning("could not release an old spilled blob; the sweeper will reclaim it", metadata: ["key": "\(key.preview())", "blob": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: Reads

    /// The value a caller sees for bytes read from the cache: raw bytes, or the verified blob, or
    /// `nil` (a counted miss).
    /// - Throws: `.blobStore` when the store cannot be read.
    @usableFromInline
    func resolve(_ value: ByteBuffer, key: CacheKey?, _ context: CacheContext) async throws(CacheError) -> ByteBuffer? {
        switch SpillEnvelope.decode(value) {
        case .raw(let raw):
            return raw
        case .malformed(let reason):
            metrics.increment(SpillMetrics.blobCorruption, route: context.route)
            context.logger.error("spill pointer does not decode; treated as a miss", metadata: ["key": "\(key?.preview() ?? "-")", "reason": "\(reason.rawValue)"])
            return nil
        case .pointer(let pointer):
            return try await resolve(pointer, key: key, context)
        }
    }

    @usableFromInline
    func resolve(_ pointer: SpillPointer, key: CacheKey?, _ context: CacheContext) async throws(CacheError) -> ByteBuffer? {
        guard pointer.storeName == store.name else {
            metrics.increment(SpillMetrics.blobMisses, route: context.route)
            context.logger.warning("spill pointer names another blob store; treated as a miss", metadata: ["key": "\(key?.preview() ?? "-")", "store": "\(pointer.storeName)"])
            return nil
        }
        let blob: ByteBuffer?
        do {
            blob = try await store.get(pointer.id)
        } catch {
            guard error.code == .corruption else { throw error }
            corrupted(pointer, key: key, detail: "\(error)", context)
            return nil
        }
        guard let blob else {
            metrics.increment(SpillMetrics.blobMisses, route: context.route)
            context.logger.debug("spilled blob is missing; treated as a miss", metadata: ["key": "\(key?.preview() ?? "-")", "blob": "\(pointer.id)"])
            return nil
        }
        guard blob.readableBytes == pointer.length else {
            corrupted(pointer, key: key, detail: "length \(blob.readableBytes), expected \(pointer.length)", context)
            return nil
        }
        let digest = XXH3.hash128(blob)
        guard digest == pointer.digest else {
            corrupted(pointer, key: key, detail: "XXH3-128 \(digest), expected \(pointer.digest)", context)
            return nil
        }
        return blob
    }

    @usableFromInline
    func resolveAll(_ values: [ByteBuffer?], keys: [CacheKey], _ context: CacheContext) async throws(CacheError) -> [ByteBuffer?] {
        var out = values
        for i in values.indices {
            if let value = values[i], SpillEnvelope.mayBeEnvelope(value) {
                out[i] = try await resolve(value, key: i < keys.count ? keys[i] : nil, context)
            }
        }
        return out
    }

    func corrupted(_ pointer: SpillPointer, key: CacheKey?, detail: String, _ context: CacheContext) {
        metrics.increment(SpillMetrics.blobCorruption, route: context.route)
        context.logger.error(
            "spilled blob failed verification (corruption); treated as a miss",
            metadata: ["key": "\(key?.preview() ?? "-")", "blob": "\(pointer.id)", "store": "\(pointer.storeName)", "detail": "\(detail)"]
        )
    }
}
