internal import Dispatch
import Synchronization

/// Where ``FileBlobStore`` does its blocking file I/O: a concurrent dispatch queue whose threads
/// are not the caller's (not an event loop, not Swift's cooperative pool). An `fsync` that takes
/// milliseconds blocks one of these threads while the caller's thread goes on serving others.
///
/// The wait honours cancellation: a cancelled caller (a ``CacheContext`` deadline, through
/// ``GuardedCache``) gets `.cancelled` at once, while the work, which a blocked system call
/// cannot abandon, finishes on its thread. What it produced then belongs to nobody and is given
/// to `abandoned` (a blob written for a caller that left is deleted there, so it is not an
/// orphan).
///
/// Dispatch (part of the Swift toolchain) is used rather than NIO's `NIOThreadPool`, which lives
/// in NIOPosix: the core, and so the build plugin's tool, must not depend on NIOPosix
/// (scripts/check-plugin-deps.sh).
package enum BlobIOQueue {
    static let queue = DispatchQueue(label: "spillway.blob-io", qos: .utility, attributes: .concurrent)

    private enum State<T> {
        case idle
        case waiting(CheckedContinuation<T, any Error>)
        case finished
    }

    /// Runs `work` on the queue and returns (or throws) its result to the waiting task.
    /// - Parameters:
    ///   - work: the blocking work.
    ///   - abandoned: called on the worker thread with `work`'s result when the caller was
    ///     cancelled before it finished.
    /// - Throws: what `work` throws, or `.cancelled` when the calling task is cancelled first.
    package static func run<T: Sendable>(
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
                    queue.async {
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
