/// Races an operation against its deadline, so that a deadline in a ``CacheContext`` is a
/// promise kept rather than a hint.
///
/// The operation runs in a child task next to a timer task; whichever finishes first wins and
/// the other is cancelled. Backends answer cancellation at once (the Redis client fails the
/// waiter and keeps the reply's place in its connection, so the connection stays in step; its
/// pool's waiters and connects leave at once too), so the caller gets
/// ``CacheError/Code/timeout`` close to the deadline, unless the chain answered the cancellation
/// (``Degrade`` answers a read cut by its deadline as a counted miss when the route's
/// ``CachePolicy/onReadFailure`` is `miss`). Nothing outlives the call:
/// both tasks are children of a task group.
@usableFromInline
package enum DeadlineEnforcement {
    /// Runs `body`, failing with ``CacheError/Code/timeout`` if `deadline` on `clock` comes first.
    /// - Throws: ``CacheError``: the body's own, `.timeout` at the deadline, or `.cancelled` when
    ///   the calling task was cancelled.
    @usableFromInline package static func run<C: Clock, T: Sendable>(
        until deadline: C.Instant,
        clock: C,
        _ body: @escaping @Sendable () async throws(CacheError) -> T
    ) async throws(CacheError) -> T {
        if clock.now >= deadline {
            throw CacheError(.timeout, "the deadline passed before the operation started")
        }
        let outcome = await withTaskGroup(of: Result<T, CacheError>?.self) { group -> Result<T, CacheError>? in
            group.addTask {
                do throws(CacheError) {
                    return .success(try await body())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // A cancelled sleep (the operation finished first) ends the timer quietly.
                try? await clock.sleep(until: deadline, tolerance: nil)
                return nil
            }
            if let first = await group.next() ?? nil {
                group.cancelAll()
                return first
            }
            // The deadline came first. The body answers cancellation at once; an answer it makes
            // of it (a read that the route's `onReadFailure: miss` turns into a counted miss) is
            // kept, and so is a success that raced the timer. Its error is replaced by `.timeout`.
            group.cancelAll()
            if let late = await group.next() ?? nil, case .success = late { return late }
            return Result<T, CacheError>?.none
        }
        if let outcome { return try outcome.get() }
        if Task.isCancelled {
            throw CacheError(.cancelled, "the task waiting for the cache was cancelled")
        }
        throw CacheError(.timeout, "the operation did not finish by its deadline")
    }

    /// Runs `body` against a deadline on the continuous clock.
    /// - Throws: ``CacheError``, as ``run(until:clock:_:)``.
    @usableFromInline package static func run<T: Sendable>(
        until deadline: ContinuousClock.Instant,
        _ body: @escaping @Sendable () async throws(CacheError) -> T
    ) async throws(CacheError) -> T {
        try await run(until: deadline, clock: ContinuousClock(), body)
    }
}
