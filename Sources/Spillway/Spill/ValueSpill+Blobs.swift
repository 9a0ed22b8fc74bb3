public import NIOCore
internal import Logging

// The blob side of the spill: recognising this store's pointers, rolling back and releasing blobs.
extension ValueSpill {
    /// The pointer `value` holds, when it is one to a blob in this store written under `key`
    /// (a pointer copied from another key names a blob this key must never release).
    @usableFromInline
    func ownPointer(_ value: ByteBuffer, key: CacheKey) -> SpillPointer? {
        guard SpillEnvelope.mayBeEnvelope(value), case .pointer(let pointer) = SpillEnvelope.decode(value),
            pointer.storeName == store.name, pointer.keyDigest == keyDigest(key)
        else { return nil }
        return pointer
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
}
