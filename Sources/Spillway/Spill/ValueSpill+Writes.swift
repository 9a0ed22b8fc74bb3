public import NIOCore
internal import Logging

// Writes through the spill: spilling a value, writing its pointer, and releasing what it replaced.
extension ValueSpill {
    /// Spills `value`, writes its pointer, and undoes the blob if the pointer is not stored.
    @usableFromInline
    func spillSet(
        _ key: CacheKey, _ value: ByteBuffer, _ options: SetOptions, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let size = value.readableBytes
        try LimitsGuard.checkValue(size, context.policy, context)
        let pointer: SpillPointer
        do throws(CacheError) {
            pointer = try await putBlob(key, value, ttl: options.expiry.duration, context)
        } catch {
            // A full or unreachable store: the route's ladder decides (shed by default).
            let reply = try StorageFailureLadder.absorb(error, operation: "set", context)
            // The overwrite was shed: delete the value it meant to replace (and release its
            // blob), so that no reader gets the old value back.
            if options.condition == .always { _ = try? await delete(key, context, next) }
            return reply
        }
        guard let asked = Self.askingForPrevious(options, context.capabilities) else {
            return try await setReadingFirst(key, pointer.encoded(), options, newBlob: pointer.id, context, next)
        }
        let reply: CacheReply
        do {
            reply = try await next(.set(key, pointer.encoded(), asked), context)
        } catch {
            await rollback(pointer.id, because: "the pointer write failed: \(error.code)", key: key, context)
            throw error
        }
        return await finishSpill(reply, pointer: pointer, old: nil, options: options, size: size, key: key, context, next)
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
            return await finishSpill(reply, pointer: pointer, old: old, options: options, size: Int(pointer.length), key: key, context, next)
        }
        guard case .write(let result) = reply else { return reply }
        return .write(await afterOverwrite(result, old: old, options: options, key: key, context))
    }

    /// After a pointer write: keep the blob only if the pointer was stored; release the old one.
    @usableFromInline
    ///
    /// A pointer kept only in this process's fallback store (`.storedLocally`) would point at the
    /// blob deleted here: the write is reported as `.dropped` instead, and the key is deleted on a
    /// best-effort basis (the backend's old value, its blob and the local copy), so neither a
    /// dead pointer nor a stale value is read back.
    func finishSpill(
        _ reply: CacheReply, pointer: SpillPointer, old: ByteBuffer?, options: SetOptions, size: Int,
        key: CacheKey, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async -> CacheReply {
        guard case .write(let result) = reply else {
            await rollback(pointer.id, because: "unexpected reply to set", key: key, context)
            return reply
        }
        if case .storedLocally(let code) = result.outcome {
            await rollback(pointer.id, because: "the pointer was only kept locally (\(code)); reported as dropped", key: key, context)
            // The value this write replaced was deleted by the degradation: release its blob.
            if let removed = result.previous, let oldPointer = ownPointer(removed, key: key) {
                await release(oldPointer, key: key, context)
            }
            do {
                _ = try await delete(key, context, next)
            } catch {
                context.logger.warning("could not remove a key whose spilled write was dropped", metadata: ["key": "\(key.preview())", "error": "\(error)"])
            }
            return .write(WriteResult(.dropped(code)))
        }
        if result.outcome != .stored {
            await rollback(pointer.id, because: "the pointer was not stored (\(result.outcome))", key: key, context)
        } else {
            metrics.increment(SpillMetrics.spilled, route: context.route)
            metrics.increment(SpillMetrics.spilledBytes, by: size, route: context.route)
        }
        return .write(await afterOverwrite(result, old: old ?? result.previous, options: options, key: key, context))
    }

    /// Writes a blob and returns its pointer.
    @usableFromInline
    func putBlob(_ key: CacheKey, _ value: ByteBuffer, ttl: Duration?, _ context: CacheContext) async throws(CacheError) -> SpillPointer {
        let now = clock.now()
        let expiresAt = ttl.map { now.advanced(by: $0 + grace) }
        let digest = XXH3.hash128(value, secret: secret)
        let id: BlobID
        do {
            id = try await store.put(value, metadata: BlobMetadata(createdAt: now, expiresAt: expiresAt, ownerKey: key))
        } catch {
            var error = error
            if error.route == nil { error.route = context.route }
            context.logger.warning("could not spill value", metadata: ["key": "\(key.preview())", "bytes": "\(value.readableBytes)", "error": "\(error)"])
            throw error
        }
        return SpillPointer(
            storeName: store.name, id: id, length: UInt64(value.readableBytes), digest: digest, keyDigest: keyDigest(key), expiresAt: expiresAt
        )
    }

    /// The previous value as the caller should see it, and the old blob released when the write
    /// replaced it.
    @usableFromInline
    func afterOverwrite(_ result: WriteResult, old: ByteBuffer?, options: SetOptions, key: CacheKey, _ context: CacheContext) async -> WriteResult {
        var shown: ByteBuffer?
        if options.returnPrevious, let previous = result.previous {
            shown = try? await resolve(previous, key: key, context)
            if let limit = options.previousHeadBytes, let whole = shown { shown = Self.head(of: whole, limit) }
        }
        // What the write removed: the old value when it was stored; when it was dropped or kept
        // locally, the old value that the degradation deleted (reported as `previous`), if any.
        let removed: ByteBuffer?
        switch result.outcome {
        case .stored: removed = old
        case .dropped, .storedLocally: removed = result.previous
        case .conditionNotMet: removed = nil
        }
        if let removed, let pointer = ownPointer(removed, key: key) {
            await release(pointer, key: key, context)
        }
        return WriteResult(result.outcome, previous: shown)
    }

    /// At most the first `bytes` bytes of `value`.
    @usableFromInline
    static func head(of value: ByteBuffer, _ bytes: Int) -> ByteBuffer {
        value.getSlice(at: value.readerIndex, length: min(max(bytes, 0), value.readableBytes))!
    }
}
