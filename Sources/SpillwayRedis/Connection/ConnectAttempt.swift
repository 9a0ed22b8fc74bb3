import NIOCore
import Spillway
import Synchronization

/// Waits for a TCP (and TLS) connect that the waiting task can abandon: cancelling the task
/// fails the wait at once with `.cancelled` (so a ``CacheContext`` deadline is kept during a
/// connect to a server that does not answer), and a channel that connects afterwards is closed
/// rather than leaked.
enum ConnectAttempt {
    private enum State {
        case idle
        case waiting(CheckedContinuation<any Channel, any Error>)
        case finished
    }

    /// The connected channel.
    /// - Throws: the connect's error, or `.cancelled` when the task is cancelled first.
    static func channel(_ future: EventLoopFuture<any Channel>) async throws -> any Channel {
        let state = Mutex(State.idle)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Channel, any Error>) in
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
                    future.whenSuccess { $0.close(promise: nil) }
                    return
                }
                future.whenComplete { result in
                    let waiting = state.withLock { s -> CheckedContinuation<any Channel, any Error>? in
                        guard case .waiting(let c) = s else { return nil }
                        s = .finished
                        return c
                    }
                    if let waiting {
                        waiting.resume(with: result)
                    } else if case .success(let channel) = result {
                        // The waiter gave up (cancelled): nobody owns this channel.
                        channel.close(promise: nil)
                    }
                }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<any Channel, any Error>? in
                guard case .waiting(let c) = s else { return nil }
                s = .finished
                return c
            }
            waiting?.resume(throwing: cancelled)
        }
    }

    private static let cancelled = CacheError(.cancelled, "cancelled while connecting to Redis")
}
