public import NIOCore
internal import Logging

// The blob side of the spill: recognising this store's pointers, rolling back and releasing blobs.
extension ValueSpill {
    /// The pointer `value` holds, when it is one to a blob in one of this instance's stores
    /// (``store`` or ``readStores``) written under `key` (a pointer copied from another key names
    /// a blob this key must never release).
    @usableFromInline
    func ownPointer(_ value: ByteBuffer, key: CacheKey) -> SpillPointer? {
        guard SpillEnvelope.mayBeEnvelope(value), case .pointer(let pointer) = SpillEnvelope.decode(value),
            pointer.keyDigest == keyDigest(key), pointer.storeName == store.name || readStore(named: pointer.storeName) != nil
        else { return nil }
        return pointer
    }

    /// The read-only store of that name, if this instance has one.
    @usableFromInline
    func readStore(named name: String) -> (any BlobStore)? {
        for other in readStores where other.name == name { return other }
        return nil
    }

    /// Deletes the blob a key no longer points at, in whichever of this instance's stores holds it.
    @usableFromInline
    func release(_ pointer: SpillPointer, key: CacheKey, _ context: CacheContext) async {
        if pointer.storeName == store.name {
            await release(pointer.id, key: key, context)
        } else if let other = readStore(named: pointer.storeName) {
            await release(pointer.id, in: other, key: key, context)
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

    /// Deletes a blob of ``store`` that a key no longer points at.
    @usableFromInline
    func release(_ id: BlobID, key: CacheKey, _ context: CacheContext) async {
        await release(id, in: store, key: key, context)
    }

    /// Deletes a blob of `target` that a key no longer points at.
    @usableFromInline
    func release(_ id: BlobID, in target: some BlobStore, key: CacheKey, _ context: CacheContext) async {
        do {
            if try await target.delete(id) { metrics.increment(SpillMetrics.blobsReleased, route: context.route) }
        } catch {
            metrics.increment(SpillMetrics.releaseFailures, route: context.route)
            context.logger.warning("could not release an old spilled blob; the sweeper will reclaim it", metadata: ["key": "\(key.preview())", "blob": "\(id)", "error": "\(error)"])
        }
    }
}
