import NIOCore
import Spillway
import SpillwayTesting
import Synchronization
import Testing

/// A counter shared with a closure or a middleware.
private final class ManagedCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}

/// A backend whose every operation hangs until its task is cancelled, then fails `.cancelled`.
private struct HangingClient: CacheClient {
    var capabilities: CacheCapabilities { CacheCapabilities() }
    func memoryStats() async throws(CacheError) -> CacheMemoryStats { CacheMemoryStats(usedBytes: 0, maxBytes: nil, keyCount: 0) }
    func execute(_ operation: CacheOperation) async throws(CacheError) -> CacheReply {
        // An unbounded stream nobody feeds: waits until cancellation ends the iteration.
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        _ = continuation
        for await _ in stream {}
        throw CacheError(.cancelled, "cancelled")
    }
}

@Suite("Deadlines")
struct DeadlineTests {
    @Test("an operation still running at its deadline fails with timeout")
    func timesOut() async throws {
        let clock = ManualClock()
        let deadline = clock.now.advanced(by: .milliseconds(100))
        async let outcome: Result<Int, CacheError> = {
            do throws(CacheError) {
                return .success(
                    try await DeadlineEnforcement.run(until: deadline, clock: clock) { () async throws(CacheError) -> Int in
                        _ = try await HangingClient().execute(.get("k"))
                        return 1
                    })
            } catch {
                return .failure(error)
            }
        }()
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(99))
        #expect(clock.sleeperCount == 1, "the timer must not fire before the deadline")
        clock.advance(by: .milliseconds(1))
        let result = await outcome
        #expect(throws: CacheError.self) { try result.get() }
        if case .failure(let error) = result { #expect(error.code == .timeout) }
    }

    @Test("an operation that finishes first returns its result and stops the timer")
    func finishesFirst() async throws {
        let clock = ManualClock()
        let value = try await DeadlineEnforcement.run(until: clock.now.advanced(by: .seconds(5)), clock: clock) { () async throws(CacheError) -> Int in 42 }
        #expect(value == 42)
        #expect(clock.sleeperCount == 0, "the timer task was cancelled and woken")
    }

    @Test("the operation's own error passes through unchanged")
    func ownErrorPassesThrough() async {
        let clock = ManualClock()
        do {
            _ = try await DeadlineEnforcement.run(until: clock.now.advanced(by: .seconds(5)), clock: clock) { () async throws(CacheError) -> Int in
                throw CacheError(.outOfMemory, CacheError.redisOOMMessage)
            }
            Issue.record("the body's error must be thrown")
        } catch {
            #expect(error.code == .outOfMemory)
            #expect(error.message == CacheError.redisOOMMessage)
        }
    }

    @Test("a deadline already past fails without running the operation")
    func pastDeadline() async {
        let clock = ManualClock()
        clock.advance(by: .seconds(1))
        let ran = ManagedCounter()
        await #expect(throws: CacheError.self) {
            try await DeadlineEnforcement.run(until: clock.now.advanced(by: .seconds(-1)), clock: clock) { () async throws(CacheError) -> Int in
                ran.increment()
                return 1
            }
        }
        #expect(ran.value == 0)
    }

    @Test("GuardedCache enforces its defaultTimeout on a backend that never answers")
    func facadeDefaultTimeout() async {
        let cache = GuardedCache(client: HangingClient(), defaultTimeout: .milliseconds(20)) { KeyGuard() }
        do {
            _ = try await cache.get("session:1")
            Issue.record("a hanging backend must not answer")
        } catch {
            #expect(error.code == .timeout)
        }
    }

    @Test("GuardedCache with no deadline runs the operation as is; the context has no deadline")
    func noDeadline() async throws {
        let seen = ManagedCounter()
        let cache = GuardedCache(client: MemoryCache(clock: ManualClock())) {
            DeadlineProbe(sawDeadline: seen)
        }
        try await cache.set("k", value: ByteBuffer(string: "v"))
        #expect(seen.value == 0)
        // An hour, so that a starved test process (full suite on a loaded 2-core machine) still
        // sees it in the future.
        _ = try await cache.execute(.get("k"), deadline: .now + .seconds(3600))
        #expect(seen.value == 1)
    }
}

/// Counts the operations whose context carried a deadline in the future.
private struct DeadlineProbe: CacheMiddleware {
    let sawDeadline: ManagedCounter
    func handle(
        _ operation: CacheOperation, context: CacheContext,
        next: (CacheOperation, CacheContext) async throws(CacheError) -> CacheReply
    ) async throws(CacheError) -> CacheReply {
        if let deadline = context.deadline, deadline > .now { sawDeadline.increment() }
        return try await next(operation, context)
    }
}
