package import Spillway

/// A backend that does nothing and answers at once: the baseline for measuring what the chain
/// itself costs. Every write reports stored, every read misses.
package struct NoopCacheClient: CacheClient {
    /// Creates the client.
    @inlinable package init() {}

    /// Everything native; no size limit of its own.
    package var capabilities: CacheCapabilities { CacheCapabilities() }

    /// Always zero bytes, no limit.
    package func memoryStats() async throws(CacheError) -> CacheMemoryStats {
        CacheMemoryStats(usedBytes: 0, maxBytes: nil, keyCount: 0)
    }

    /// Answers the operation with a neutral reply.
    @inlinable
    package func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        switch operation {
        case .get: .value(nil)
        case .mget(let keys): .values(Array(repeating: nil, count: keys.count))
        case .set, .mset: .write(WriteResult(.stored))
        case .msetReturningHeads(let pairs, _, _): .write(WriteResult(.stored, previousHeads: Array(repeating: nil, count: pairs.count)))
        case .delete: .count(0)
        case .exists, .expire: .bool(false)
        case .increment(_, let by, _): .integer(by)
        case .throttle: .throttle(GCRADecision(allowed: true, remaining: 0, retryAfter: .zero, resetAfter: .zero))
        case .deleteReturningHead, .expireReturningHead: .headed(false, previousHead: nil)
        }
    }
}
