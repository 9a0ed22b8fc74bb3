internal import NIOCore
internal import Logging

// Deletes and expires through the spill: one round trip where the backend returns previous heads.
extension ValueSpill {
    /// Deletes the key; releases its blob when it held a pointer. One round trip
    /// (``CacheOperation/deleteReturningHead(_:headBytes:)``) where the backend can, else a read
    /// first.
    @usableFromInline
    func delete(
        _ key: CacheKey, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if context.capabilities.returnsPreviousHead {
            let reply = try await next(.deleteReturningHead(key, headBytes: Self.previousHeadBytes), context)
            guard case .headed(let removed, let head) = reply else { return reply }
            if removed, let head, let pointer = ownPointer(head, key: key) {
                await release(pointer, key: key, context)
            }
            return .count(removed ? 1 : 0)
        }
        let before = try await next(.get(key), context)
        let reply = try await next(.delete(key), context)
        if case .count(let n) = reply, n > 0, case .value(let old?) = before, let pointer = ownPointer(old, key: key) {
            await release(pointer, key: key, context)
        }
        return reply
    }

    /// Sets the key's TTL; moves its blob's expiry (or releases the blob when a non-positive TTL
    /// removed the key). One round trip
    /// (``CacheOperation/expireReturningHead(_:ttl:headBytes:)``) where the backend can, else a
    /// read after.
    @usableFromInline
    func expire(
        _ key: CacheKey, ttl: Duration, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if context.capabilities.returnsPreviousHead {
            let reply = try await next(.expireReturningHead(key, ttl: ttl, headBytes: Self.previousHeadBytes), context)
            guard case .headed(let existed, let head) = reply else { return reply }
            if existed, let head, let pointer = ownPointer(head, key: key) {
                await expired(pointer, ttl: ttl, key: key, context)
            }
            return .bool(existed)
        }
        let reply = try await next(.expire(key, ttl: ttl), context)
        guard case .bool(true) = reply, ttl > .zero,
            case .value(let value?)? = try? await next(.get(key), context), let pointer = ownPointer(value, key: key)
        else { return reply }
        await expired(pointer, ttl: ttl, key: key, context)
        return reply
    }

    /// After an expire of a key holding `pointer`: the blob follows the key's new TTL, or goes
    /// with the key when the TTL removed it.
    @usableFromInline
    func expired(_ pointer: SpillPointer, ttl: Duration, key: CacheKey, _ context: CacheContext) async {
        guard ttl > .zero else {
            await release(pointer, key: key, context)
            return
        }
        do {
            let expiresAt = clock.now().advanced(by: ttl + grace)
            if pointer.storeName == store.name {
                try await store.setExpiry(pointer.id, expiresAt)
            } else if let other = readStore(named: pointer.storeName) {
                try await other.setExpiry(pointer.id, expiresAt)
            }
        } catch {
            context.logger.warning("could not move a spilled blob's expiry", metadata: ["key": "\(key.preview())", "blob": "\(pointer.id)", "error": "\(error)"])
        }
    }

    /// A caller's own ``CacheOperation/deleteReturningHead(_:headBytes:)`` or
    /// ``CacheOperation/expireReturningHead(_:ttl:headBytes:)``: the head it gets back is that of
    /// the value as callers see it (unescaped; a spilled value's blob, verified), and the blob is
    /// released or its expiry moved as for a plain delete or expire.
    @usableFromInline
    func headed(
        operation: CacheOperation, key: CacheKey, ttl: Duration?, headBytes: Int, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        let reply = try await next(operation, context)
        guard case .headed(let done, let head?) = reply else { return reply }
        var shown = (try? await resolve(head, key: key, context)) ?? nil
        if let whole = shown { shown = Self.head(of: whole, headBytes) }
        if done, let pointer = ownPointer(head, key: key) {
            if let ttl {
                await expired(pointer, ttl: ttl, key: key, context)
            } else {
                await release(pointer, key: key, context)
            }
        }
        return .headed(done, previousHead: shown)
    }
}
