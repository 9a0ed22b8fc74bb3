internal import Logging
internal import Metrics

/// The degradation ladder for a write whose value the blob store cannot take (full, over quota,
/// read-only, unreachable: ``FailureClass/storage``).
///
/// The spill runs above ``Degrade`` in the chain, so a blob store failure never reaches it; the
/// spill asks this ladder instead, with the same policy: `onFailure[.storage] ?? onOOM`.
///
/// | action | `set` / `mset` of a spilled value |
/// |---|---|
/// | `shed` | ``WriteOutcome/dropped(_:)`` with `.blobStore`, nothing thrown |
/// | `fallback` | as `shed`: the spill has no fallback store (a value too big for the cache does not belong in a bounded in-process one either) |
/// | `fail` | the error is thrown |
///
/// Each drop is counted as `spillway_writes_shed_total{reason="blobStore"}`, the counter
/// ``Degrade`` uses for its own drops.
@usableFromInline
enum StorageFailureLadder {
    /// Applies the route's storage action to a spilled write that could not be spilled.
    /// - Returns: the `.dropped` reply when the policy absorbs the failure.
    /// - Throws: `error` (with the route filled in) when the policy says `fail`, or when the
    ///   error is not a storage failure.
    @usableFromInline
    static func absorb(_ error: CacheError, operation: String, _ context: CacheContext) throws(CacheError) -> CacheReply {
        var error = error
        if error.route == nil { error.route = context.route }
        guard error.failureClass == .storage, let action = context.policy.action(for: .storage), action != .fail else {
            throw error
        }
        Counter(label: "spillway_writes_shed_total", dimensions: [("route", context.route ?? "-"), ("reason", "\(error.code)")]).increment()
        context.logger.debug("spillway shed a write the blob store could not take", metadata: ["op": "\(operation)", "code": "\(error.code)"])
        return .write(WriteResult(.dropped(error.code)))
    }
}
