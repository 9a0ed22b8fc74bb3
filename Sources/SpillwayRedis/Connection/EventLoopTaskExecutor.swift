public import NIOCore

/// A Swift task executor that runs jobs on one NIO event loop.
///
/// A ``RedisConnection`` is an actor on its channel's event loop. A task that prefers that same
/// loop (`withTaskExecutorPreference(_:operation:)`, or `TaskGroup.addTask(executorPreference:)`)
/// sends a command, waits for the reply and carries on without ever leaving the loop's thread,
/// which saves two cross-thread wake-ups per command. ``RedisClient`` picks a connection on the
/// caller's loop when there is one.
///
/// ```swift
/// let executors = EventLoopTaskExecutor.all(in: MultiThreadedEventLoopGroup.singleton)
/// await withTaskGroup(of: Void.self) { group in
///     for (i, request) in requests.enumerated() {
///         group.addTask(executorPreference: executors[i % executors.count]) { await handle(request) }
///     }
/// }
/// ```
///
/// Keep the work such tasks do between awaits short: it runs on the event loop, and blocking
/// there stalls every connection on that loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop jobs run on.
    public let eventLoop: any EventLoop

    /// Creates an executor for `eventLoop`.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// One executor per event loop of `group`, in the group's order.
    public static func all(in group: any EventLoopGroup) -> [EventLoopTaskExecutor] {
        group.makeIterator().map { EventLoopTaskExecutor(eventLoop: $0) }
    }

    /// Runs `job` on the event loop.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
