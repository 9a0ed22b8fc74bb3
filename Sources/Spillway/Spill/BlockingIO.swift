import Dispatch
import Synchronization

/// Runs blocking file I/O (`open`, `write`, `fsync`, `rename`) on a Dispatch worker thread, so
/// that a slow disk stalls neither the caller's thread (a Swift concurrency thread, or an event
/// loop when request tasks run there, as docs/REDIS.md recommends) nor the Redis connections that
/// share it.
///
/// The wait honours cancellation: a cancelled caller (a ``CacheContext`` deadline, through
/// ``GuardedCache``) gets `.cancelled` at once, while the work, which a blocked system call
/// cannot abandon, finishes on its thread. What it produced then belongs to nobody and is given
/// to `abandoned` (a blob written for a caller that left is deleted there, so it is not an
/// orphan). Dispatch rather than NIO's thread pool keeps the core free of NIOPosix.
enum BlockingIO {
    private enum State<T> {
        case idle
        case waiting(CheckedContinuation<T, any Error>)
        case finished
    }

    /// Runs `work` on a worker thread and returns its result.
    /// - Parameters:
    ///   - work: the blocking work.
    ///   - abandoned: called on the worker thread with `work`'s result when the caller was
    ///     cancelled before it finished.
    /// - Throws: what `work` throws, or `.cancelled` when the calling task is cancelled first.
    static func run<T: Sendable>(
        _ work: @escaping @Sendable () throws(CacheError) -> T,
        abandoned: @escaping @Sendable (T) -> Void = { _ in }
    ) async throws(CacheError) -> T {
        if Task.isCancelled { throw cancelled }
        let state = Mutex(State<T>.idle)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                    let cancelledAlready = state.withLock { s -> Bool in
                        if Task.isCancelled {
                            s = .finished
                            return true
                        }
                        s = .waiting(continuation)
                        return false
                    }
                    if cancelledAlready {
                        continuation.resume(throwing: cancelled)
                        return
                    }
                    DispatchQueue.global().async {
                        let result = Result<T, CacheError> { () throws(CacheError) -> T in try work() }
                        let waiting = state.withLock { s -> CheckedContinuation<T, any Error>? in
                            guard case .waiting(let c) = s else { return nil }
                            s = .finished
                            return c
                        }
                        if let waiting {
                            waiting.resume(with: result.mapError { $0 as any Error })
                        } else if case .success(let value) = result {
                            abandoned(value)
                        }
                    }
                }
            } onCancel: {
                let waiting = state.withLock { s -> CheckedContinuation<T, any Error>? in
                    guard case .waiting(let c) = s else { return nil }
                    s = .finished
                    return c
                }
                waiting?.resume(throwing: cancelled)
            }
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.blobStore, "\(error)", underlying: error)
        }
    }

    static let cancelled = CacheError(.cancelled, "cancelled while waiting for the blob store's disk")
}
