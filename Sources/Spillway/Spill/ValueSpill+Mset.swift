import NIOCore
internal import Logging

// `mset` through the spill: spilling the values above the threshold, writing every pointer in
// one round trip that also returns the old values' heads, and releasing what the write replaced.
extension ValueSpill {
    /// Writes several keys, spilling each value above its key's `spillAbove`.
    ///
    /// On a backend with ``CacheCapabilities/returnsPreviousHead`` the write is one
    /// ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``: the old pointers come back with
    /// the write, atomically, and no old value crosses the wire. Otherwise the old values are read
    /// first with an `mget`.
    /// - Parameter callerHeadBytes: for a caller's own `msetReturningHeads`, how many bytes of
    ///   each old value (as callers see it) to return; `nil` for a plain `mset`.
    @usableFromInline
    func mset(
        _ pairs: [KeyValue], ttl: Duration?, callerHeadBytes: Int?, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        var out = pairs
        var spilled: [(index: Int, pointer: SpillPointer)] = []
        do {
            for i in pairs.indices {
                let policy = context.policies.resolve(route: context.route, key: pairs[i].key)
                let value = pairs[i].value
                if let limit = policy.spillAbove, value.readableBytes > limit {
                    try LimitsGuard.checkValue(value.readableBytes, policy, context)
                    let pointer = try await putBlob(pairs[i].key, value, ttl: ttl, context)
                    spilled.append((i, pointer))
                    out[i].value = pointer.encoded()
                } else {
                    out[i].value = SpillEnvelope.storedForm(ofRaw: value)
                }
            }
        } catch {
            for s in spilled { await rollback(s.pointer.id, because: "another value of the mset failed: \(error.code)", key: pairs[s.index].key, context) }
            // A full or unreachable store: the route's ladder decides (shed by default).
            let reply = try StorageFailureLadder.absorb(error, operation: "mset", context)
            for pair in pairs { _ = try? await delete(pair.key, context, next) }
            return reply
        }
        // What each key held before the write: heads, or whole values read first.
        var before: [ByteBuffer?] = []
        let reply: CacheReply
        do {
            if context.capabilities.returnsPreviousHead {
                let headBytes = callerHeadBytes.map(Self.headBytes(covering:)) ?? Self.previousHeadBytes
                reply = try await next(.msetReturningHeads(out, ttl: ttl, headBytes: headBytes), context)
                if case .write(let result) = reply, result.outcome == .stored, result.previousHeads.count == pairs.count {
                    before = result.previousHeads
                }
            } else {
                if case .values(let values) = try await next(.mget(pairs.map(\.key)), context), values.count == pairs.count {
                    before = values
                }
                reply = try await next(.mset(out, ttl: ttl), context)
            }
        } catch {
            await rollbackUnlessStored(spilled, pairs: pairs, because: error, context, next)
            throw error
        }
        guard case .write(let result) = reply else {
            for s in spilled { await rollback(s.pointer.id, because: "unexpected reply to mset", key: pairs[s.index].key, context) }
            return reply
        }
        guard result.outcome == .stored else {
            return await msetNotStored(result, pairs: pairs, spilled: spilled, callerHeadBytes: callerHeadBytes, context, next)
        }
        let shown = await callerHeads(before, pairs: pairs, callerHeadBytes, context)
        // Release what the write replaced: old pointers, and new blobs that a later pair with the
        // same key overwrote within this mset. A key given twice has the same old value twice.
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
            if let old, let pointer = ownPointer(old, key: pairs[i].key) {
                await release(pointer, key: pairs[i].key, context)
            }
        }
        return .write(WriteResult(.stored, previousHeads: shown))
    }

    /// After an `mset` that threw: deletes the new blobs whose pointers were not stored.
    ///
    /// A batch can throw with part of it written: a Redis Cluster runs one write per slot, and
    /// one slot's can fail while another's stored; a connection can break after the server ran
    /// the write. So the spilled keys are read back (one `mget`, served at `maxmemory` too) and a
    /// blob whose pointer a key now holds is kept (that key is live; its old blob is left to the
    /// sweeper). If the read fails too, every new blob is deleted, as when nothing was written.
    func rollbackUnlessStored(
        _ spilled: [(index: Int, pointer: SpillPointer)], pairs: [KeyValue], because error: CacheError, _ context: CacheContext,
        _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async {
        guard !spilled.isEmpty else { return }
        var current: [ByteBuffer?] = []
        if case .values(let values)? = try? await next(.mget(spilled.map { pairs[$0.index].key }), context), values.count == spilled.count {
            current = values
        }
        for (n, s) in spilled.enumerated() {
            let key = pairs[s.index].key
            if n < current.count, let value = current[n], let held = ownPointer(value, key: key), held.id == s.pointer.id, held.storeName == s.pointer.storeName {
                context.logger.warning("an mset failed after storing this key's pointer: its blob is kept", metadata: ["key": "\(key.preview())", "blob": "\(s.pointer.id)", "error": "\(error.code)"])
                continue
            }
            await rollback(s.pointer.id, because: "the pointer write failed: \(error.code)", key: key, context)
        }
    }

    /// An `mset` the backend did not store (``Degrade`` shed it or kept it locally): the new blobs
    /// are deleted, and the old blobs of the keys the degradation deleted (their heads come back
    /// in ``WriteResult/previousHeads``) released.
    ///
    /// A write kept only in this process's fallback store (`.storedLocally`) with spilled values
    /// would keep pointers to the blobs deleted here: it is reported as `.dropped` instead, and
    /// its keys are deleted (best effort), so neither a dead pointer nor a stale value is read.
    func msetNotStored(
        _ result: WriteResult, pairs: [KeyValue], spilled: [(index: Int, pointer: SpillPointer)], callerHeadBytes: Int?,
        _ context: CacheContext, _ next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async -> CacheReply {
        for s in spilled {
            await rollback(s.pointer.id, because: "the pointer was not stored (\(result.outcome))", key: pairs[s.index].key, context)
        }
        let removed = result.previousHeads.count == pairs.count ? result.previousHeads : []
        let shown = await callerHeads(removed, pairs: pairs, callerHeadBytes, context)
        for (i, old) in removed.enumerated() {
            if let old, let pointer = ownPointer(old, key: pairs[i].key) { await release(pointer, key: pairs[i].key, context) }
        }
        if case .storedLocally(let code) = result.outcome, !spilled.isEmpty {
            for pair in pairs {
                do {
                    _ = try await delete(pair.key, context, next)
                } catch {
                    context.logger.warning("could not remove a key whose spilled write was dropped", metadata: ["key": "\(pair.key.preview())", "error": "\(error)"])
                }
            }
            return .write(WriteResult(.dropped(code), previousHeads: shown))
        }
        return .write(WriteResult(result.outcome, previousHeads: shown))
    }

    /// The heads a caller's own `msetReturningHeads` gets back: those of the old values as
    /// callers see them (unescaped; a spilled value's blob, verified), at most `bytes` long.
    /// Empty for a plain `mset` (`bytes` is `nil`) or when the old values are not known.
    func callerHeads(_ old: [ByteBuffer?], pairs: [KeyValue], _ bytes: Int?, _ context: CacheContext) async -> [ByteBuffer?] {
        guard let bytes, old.count == pairs.count else { return [] }
        var shown: [ByteBuffer?] = []
        shown.reserveCapacity(old.count)
        for (i, value) in old.enumerated() {
            guard let value, let whole = (try? await resolve(value, key: pairs[i].key, context)) ?? nil else {
                shown.append(nil)
                continue
            }
            shown.append(Self.head(of: whole, bytes))
        }
        return shown
    }
}
